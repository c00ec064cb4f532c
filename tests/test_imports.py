"""What importing the package costs and where its parts come from."""

import subprocess
import sys

import tinymoat


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, cwd="/").stdout.strip()


def test_reports_and_the_result_schema_import_no_tensorflow():
    # tinymoat-report turns JSON into Markdown and plots: TensorFlow would cost seconds
    # and probe for GPUs on every call.
    loaded = _run("import sys; import tinymoat.export.latency.report, "
                  "tinymoat.export.latency.schema, tinymoat.export.latency.cli; "
                  "print(sorted(m for m in ('tensorflow', 'tf_keras', 'onnxruntime', "
                  "'coremltools') if m in sys.modules))")
    assert loaded == "[]"


def test_public_names_load_on_first_use():
    assert _run("import sys, tinymoat; a = 'tensorflow' in sys.modules; "
                "tinymoat.build_model; print(a, 'tensorflow' in sys.modules)") == "False True"
    assert tinymoat.VARIANTS["tiny-moat-0"].name == "tiny-moat-0"
    assert set(tinymoat.__all__) <= set(dir(tinymoat))


def test_the_package_is_the_installed_mapping_without_path_changes():
    import tinymoat.export
    import tinymoat.quantization
    assert len(tinymoat.__path__) == 1  # export/ and quantization/ come from package-dir
    assert tinymoat.export.__file__.endswith("export/__init__.py")
    assert tinymoat.quantization.__file__.endswith("quantization/__init__.py")


def test_preprocess_stays_the_function_after_its_module_is_imported():
    assert _run("import tinymoat.preprocess, tinymoat; print(callable(tinymoat.preprocess))") == "True"
    assert _run("import tinymoat; from tinymoat.preprocess import mean_std; "
                "print(callable(tinymoat.preprocess))") == "True"


def test_quantization_names_stay_functions_after_their_modules_are_imported():
    # A submodule named like a public name would replace it on the package once imported.
    loaded = _run("import importlib, pkgutil, types, tinymoat.quantization as q\n"
                  "for m in pkgutil.walk_packages(q.__path__, 'tinymoat.quantization.'):\n"
                  "    importlib.import_module(m.name)\n"
                  "print(sorted(n for n in q._EXPORTS if isinstance(getattr(q, n), "
                  "types.ModuleType)))")
    assert loaded == "[]"


def test_the_flatbuffer_tools_and_int8_choices_import_no_tensorflow():
    loaded = _run("import sys; import tinymoat.quantization.tflite.ops, "
                  "tinymoat.quantization.forms, tinymoat.quantization.metrics, "
                  "tinymoat.export.tflite.metadata; print('tensorflow' in sys.modules)")
    assert loaded == "False"
