"""Names of a package that load their module on first use (PEP 562).

Tools that only read files (tinymoat-report, the metadata writer, the
flatbuffer tools) must not pay for TensorFlow, so packages whose public names
live in TensorFlow-heavy modules hand them out through this.
"""

import importlib


def lazy_names(package: str, exports: dict, eager: dict):
    """(__getattr__, __dir__) for `package`: exports maps a public name to the module (relative
    to the package) that defines it; other attributes are tried as submodules. `eager` is the
    package's globals(): a loaded name is stored there, so the module is asked only once."""

    def __getattr__(name):
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(f"{package}.{module}"), name)
            eager[name] = value
            return value
        try:  # a submodule, as `package.sub` after `import package`
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(eager) | set(exports))

    return __getattr__, __dir__
