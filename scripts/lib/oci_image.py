#!/usr/bin/env python3
"""Turn directory trees into gzip OCI layers and write an OCI image layout.

Used by scripts/build-images (nodebom's own images) and bench/build-image.sh (the
benchmark image). Same inputs, same bytes: entries sorted, numeric owners, no user or
group names, gzip without a timestamp. Three sub-commands:

  layer DIR OUT.tar.gz [--overlay-upper] [--mtime-clamp EPOCH]
      Tar DIR and gzip it. With --overlay-upper, DIR is an overlayfs upper directory
      and its whiteouts (character device 0:0) and opaque directories (xattr
      trusted.overlay.opaque=y) become OCI whiteouts (.wh.<name>, .wh..wh..opq). With
      --mtime-clamp, no entry is newer than EPOCH (SOURCE_DATE_EPOCH). Writes
      OUT.tar.gz.json with the layer's digest, diffID and size.

  whiteout-layer REF_DIR OUT.tar.gz PATH...
      A layer that only deletes PATHs (relative to the image root): the parent
      directories, copied from REF_DIR (the layer that holds them), then one
      .wh.<name> entry per PATH.

  layout OUT_DIR ARCHIVE --ref NAME --history TEXT [--history TEXT...] [config options]
         LAYER.tar.gz...
      Write an OCI image layout (oci-layout, index.json, blobs/sha256/...) for one
      linux image made of the given layers, bottom first, and pack it as the tar
      ARCHIVE that `ctr images import`, `skopeo` and `podman load` read. Config
      options: --arch, --created, --entrypoint/--cmd (JSON arrays), --workdir, --user,
      --env, --label KEY=VALUE, --annotation KEY=VALUE (on the manifest and the index
      entry).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile
from pathlib import Path

# Default time of the config (rebuilding from the same layers gives the same digests).
CREATED = "2025-05-20T00:00:00Z"
OPAQUE_XATTR = "trusted.overlay.opaque"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


class HashingWriter:
    """File-like object that hashes and counts what passes through it."""

    def __init__(self, inner):
        self.inner = inner
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()

    def digest(self) -> str:
        return "sha256:" + self.sha256.hexdigest()


class LayerWriter:
    """Streams a tar into gzip while computing the diffID and the blob digest."""

    def __init__(self, out_path: Path, mtime_clamp: int | None = None):
        self.out_path = out_path
        self.mtime_clamp = mtime_clamp
        self.raw = open(out_path, "wb")
        self.compressed = HashingWriter(self.raw)
        self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.compressed,
                                compresslevel=6, mtime=0)
        self.uncompressed = HashingWriter(self.gz)
        self.tar = tarfile.open(fileobj=self.uncompressed, mode="w|",
                                format=tarfile.PAX_FORMAT)

    def add_path(self, full: Path, arcname: str) -> None:
        info = self.tar.gettarinfo(str(full), arcname)
        if info is None:  # sockets cannot be archived
            return
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)
        if self.mtime_clamp is not None:
            info.mtime = min(info.mtime, self.mtime_clamp)
        if info.isreg():
            with open(full, "rb") as f:
                self.tar.addfile(info, f)
        else:
            self.tar.addfile(info)

    def add_whiteout(self, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        info.mode = 0o644
        info.mtime = 0
        self.tar.addfile(info)

    def close(self) -> dict:
        self.tar.close()
        self.gz.close()
        self.raw.close()
        meta = {
            "digest": self.compressed.digest(),
            "size": self.compressed.size,
            "diff_id": self.uncompressed.digest(),
            "uncompressed_size": self.uncompressed.size,
        }
        Path(str(self.out_path) + ".json").write_text(json.dumps(meta, indent=2) + "\n")
        return meta


def is_overlay_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def iter_tree(root: Path):
    """Depth-first, name-sorted walk of root: (full path, relative path) pairs."""
    for name in sorted(os.listdir(root)):
        full = root / name
        yield full, name
        if full.is_dir() and not full.is_symlink():
            for sub_full, sub_rel in iter_tree(full):
                yield sub_full, name + "/" + sub_rel


def cmd_layer(args) -> None:
    root = Path(args.dir)
    writer = LayerWriter(Path(args.out), args.mtime_clamp)
    for full, rel in iter_tree(root):
        st = os.lstat(full)
        if args.overlay_upper and is_overlay_whiteout(st):
            parent, _, name = rel.rpartition("/")
            writer.add_whiteout((parent + "/" if parent else "") + WHITEOUT_PREFIX + name)
            continue
        writer.add_path(full, rel)
        if args.overlay_upper and stat.S_ISDIR(st.st_mode) and is_opaque(full):
            writer.add_whiteout(rel + "/" + OPAQUE_MARKER)
    print(json.dumps(writer.close()))


def cmd_whiteout_layer(args) -> None:
    ref = Path(args.ref_dir)
    writer = LayerWriter(Path(args.out))
    parents_done = set()
    for target in sorted(p.strip("/") for p in args.paths):
        parts = target.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in parents_done:
                writer.add_path(ref / parent, parent)
                parents_done.add(parent)
        parent = "/".join(parts[:-1])
        writer.add_whiteout((parent + "/" if parent else "") + WHITEOUT_PREFIX + parts[-1])
    print(json.dumps(writer.close()))


def write_blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.split(":", 1)[1]).write_bytes(data)
    return digest, len(data)


def canonical(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"


def cmd_layout(args) -> None:
    out = Path(args.out_dir)
    if out.exists():
        shutil.rmtree(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    if len(args.history) != len(args.layers):
        sys.exit("layout: give one --history entry per layer")

    layers = []
    for layer in args.layers:
        meta = json.loads(Path(layer + ".json").read_text())
        dest = blobs / meta["digest"].split(":", 1)[1]
        if dest.exists():
            dest.unlink()
        os.link(layer, dest)
        layers.append(meta)

    image_config = {"Env": [PATH_ENV] + args.env}
    for key, value in (("Entrypoint", args.entrypoint), ("Cmd", args.cmd),
                       ("WorkingDir", args.workdir), ("User", args.user)):
        if value is not None:
            image_config[key] = value
    labels = dict(args.label)
    if labels:
        image_config["Labels"] = labels
    config = {
        "architecture": args.arch,
        "os": "linux",
        "created": args.created,
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [m["diff_id"] for m in layers]},
        "history": [{"created": args.created, "created_by": h} for h in args.history],
    }
    config_digest, config_size = write_blob(blobs, canonical(config))

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": m["digest"],
                "size": m["size"],
            }
            for m in layers
        ],
    }
    annotations = dict(args.annotation)
    if annotations:
        manifest["annotations"] = annotations
    manifest_digest, manifest_size = write_blob(blobs, canonical(manifest))

    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": args.arch, "os": "linux"},
                "annotations": {
                    **annotations,
                    "io.containerd.image.name": args.ref,
                    "org.opencontainers.image.ref.name": args.ref,
                },
            }
        ],
    }
    (out / "index.json").write_bytes(canonical(index))
    (out / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))

    # Uncompressed tar of the layout: the blobs are gzip already.
    archive_tmp = Path(args.archive + ".tmp")
    with tarfile.open(archive_tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for full, rel in iter_tree(out):
            info = tar.gettarinfo(str(full), rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isreg():
                with open(full, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    archive_tmp.replace(args.archive)

    summary = {
        "ref": args.ref,
        "manifest_digest": manifest_digest,
        "config_digest": config_digest,
        "layers": layers,
    }
    (out.parent / (out.name + ".summary.json")).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def json_array(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise argparse.ArgumentTypeError(f"not a JSON array of strings: {text}")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("layer")
    p.add_argument("dir")
    p.add_argument("out")
    p.add_argument("--overlay-upper", action="store_true")
    p.add_argument("--mtime-clamp", type=int, metavar="EPOCH",
                   help="no entry newer than this (seconds since 1970, e.g. SOURCE_DATE_EPOCH)")
    p.set_defaults(func=cmd_layer)

    p = sub.add_parser("whiteout-layer")
    p.add_argument("ref_dir")
    p.add_argument("out")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_whiteout_layer)

    p = sub.add_parser("layout")
    p.add_argument("out_dir")
    p.add_argument("archive")
    p.add_argument("--ref", required=True)
    p.add_argument("--history", action="append", required=True,
                   help="created_by text of one layer; repeat once per layer")
    p.add_argument("--arch", default="amd64", help="OCI architecture (amd64, arm64)")
    p.add_argument("--created", default=CREATED, help="RFC 3339 time of the config")
    p.add_argument("--entrypoint", type=json_array, help='JSON array, e.g. ["/usr/bin/app"]')
    p.add_argument("--cmd", type=json_array, help="JSON array")
    p.add_argument("--workdir")
    p.add_argument("--user", help="UID:GID the process runs as")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE besides PATH")
    p.add_argument("--label", action="append", default=[], type=key_value,
                   help="config label KEY=VALUE")
    p.add_argument("--annotation", action="append", default=[], type=key_value,
                   help="manifest annotation KEY=VALUE")
    p.add_argument("layers", nargs="+")
    p.set_defaults(func=cmd_layout)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
