"""What the pipeline knows of the image's Dockerfile (dockerfiles/asterisk): where it is, the
stages and build arguments it names, where the SBOM goes, and the attestation every build
gets. The variants' stages are core.VARIANTS'; the labels are labels.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DOCKERFILES = Path(__file__).resolve().parent.parent / "dockerfiles" / "asterisk"

# The SBOM (sbom.py) in every image the pipeline makes, and how the Dockerfile adds it: the
# first build exports the variant's dpkg database (PACKAGES_STAGE), the second adds the
# SBOMs of the build context SBOM_CONTEXT as the last layer (IMAGE_STAGE). VARIANT_ARG names
# the variant's stage.
SBOM_PATH = "/usr/share/sbom/asterisk.cdx.json"
PACKAGES_STAGE = "packages"
IMAGE_STAGE = "image"
SBOM_CONTEXT = "sbom"
VARIANT_ARG = "VARIANT_STAGE"

# BuildKit's provenance attestation of every image the pipeline makes (SLSA provenance, one
# attestation manifest per platform in the image index; `docker save` keeps them and
# publishing pushes them). mode=max also records the build arguments, labels and Dockerfile
# steps: the builds receive no secrets, so there is none to leak.
PROVENANCE: Mapping[str, str] = {"mode": "max"}
