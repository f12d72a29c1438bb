#!/usr/bin/env python3
"""Writes the fat-jar layer tree of the memory benchmark.

  fatjar DIR [--mib N]   DIR/app/app.jar: a Spring Boot style jar of about N MiB (1024 by
                         default), stored (not deflated) like Spring Boot's, holding one
                         Maven artifact and nested jars of ~20 MiB each under BOOT-INF/lib,
                         each one Maven artifact too; DIR/expected.txt lists the artifacts.
"""

import argparse
import io
import zipfile
from pathlib import Path

NESTED_MIB = 20


def pom(group: str, artifact: str, version: str) -> bytes:
    return f"groupId={group}\nartifactId={artifact}\nversion={version}\n".encode()


def nested_jar(index: int, filler: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        jar.writestr(f"META-INF/maven/org.example/lib{index}/pom.properties",
                     pom("org.example", f"lib{index}", f"1.{index}"))
        jar.writestr(f"org/example/lib{index}/data.bin", filler)
    return out.getvalue()


def fatjar(args) -> None:
    root = Path(args.dir)
    (root / "app").mkdir(parents=True, exist_ok=True)
    filler = bytes(range(256)) * (NESTED_MIB * 4096)
    count = max(1, args.mib // NESTED_MIB)
    expected = ["org.example:app 2.0"]
    with zipfile.ZipFile(root / "app" / "app.jar", "w", zipfile.ZIP_STORED) as outer:
        outer.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        outer.writestr("META-INF/maven/org.example/app/pom.properties",
                       pom("org.example", "app", "2.0"))
        for index in range(count):
            outer.writestr(f"BOOT-INF/lib/lib{index}-1.{index}.jar", nested_jar(index, filler))
            expected.append(f"org.example:lib{index} 1.{index}")
    (root / "expected.txt").write_text("\n".join(sorted(expected)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fatjar")
    p.add_argument("dir")
    p.add_argument("--mib", type=int, default=1024)
    p.set_defaults(run=fatjar)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
