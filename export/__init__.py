"""tinymoat.export: write deployment artifacts and check them against the float model.

    from tinymoat.export import export
    result = export("tiny-moat-0", target="all", int8=True, out="artifacts")

See export/api.py for the call and its result; `tinymoat-export` takes the same
options on the command line.
"""

from .api import Artifact, Export, export
from .target import ExportError

__all__ = ["Artifact", "Export", "ExportError", "export"]
