-- nodebom collector schema, version 4: the nodes' own software.

-- The node pool an agent reports for its node ('' when it reads none).
ALTER TABLE nodes ADD COLUMN node_pool TEXT NOT NULL DEFAULT '';

-- A node's own software is kept as an image row keyed by its SBOM content's digest (so
-- that identical nodes share it): `node` holds its facts as JSON (os, os_name, kernel,
-- arch); NULL for container images.
ALTER TABLE images ADD COLUMN node TEXT;
CREATE INDEX images_of_nodes ON images (digest) WHERE node IS NOT NULL;
