#!/usr/bin/env bash
# Compiles the demo's plain-Java core (android_demo/core) and its JUnit 4 tests with
# javac and runs them with JUnitCore: no Android SDK, Gradle or network needed.
#
#   android_demo/run_core_tests.sh                  # build in a temp dir, run, clean up
#   android_demo/run_core_tests.sh --keep DIR       # build into DIR and keep the classes
#   android_demo/run_core_tests.sh --update-golden  # rewrite core/src/test/resources/expected_result.json
#
# Needs JDK 17+ and Debian's junit4 package (apt-get install junit4), or JUNIT_JAR and
# HAMCREST_JAR pointing at junit 4.13 and hamcrest-core jars. Exits non-zero on failure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
core="$here/core"
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
keep=""
golden_flag=()

while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
    --update-golden) golden_flag=("-Dtinymoat.updateGolden=$core/src/test/resources/expected_result.json"); shift ;;
    *) echo "usage: $0 [--keep DIR] [--update-golden]" >&2; exit 2 ;;
  esac
done

for tool in javac java; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (install a JDK 17+)" >&2; exit 2; }
done
for jar in "$junit" "$hamcrest"; do
  [ -r "$jar" ] || { echo "error: $jar not found (apt-get install junit4, or set JUNIT_JAR/HAMCREST_JAR)" >&2; exit 2; }
done

if [ -n "$keep" ]; then
  out="$keep"
  rm -rf "$out/main" "$out/test"
  mkdir -p "$out"
else
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi

mapfile -t main_sources < <(find "$core/src/main/java" -name '*.java' | sort)
mapfile -t test_sources < <(find "$core/src/test/java" -name '*.java' | sort)

javac --release 17 -encoding UTF-8 -Xlint:all -d "$out/main" "${main_sources[@]}"
javac --release 17 -encoding UTF-8 -Xlint:all -d "$out/test" \
  -cp "$out/main:$junit" "${test_sources[@]}"

# Test classes from file names: .../java/dev/tinymoat/demo/core/FooTest.java -> dev.tinymoat.demo.core.FooTest
mapfile -t test_classes < <(printf '%s\n' "${test_sources[@]}" | grep 'Test\.java$' \
  | sed -e "s|^$core/src/test/java/||" -e 's|\.java$||' -e 's|/|.|g')

java "${golden_flag[@]}" -cp "$out/main:$out/test:$core/src/test/resources:$junit:$hamcrest" \
  org.junit.runner.JUnitCore "${test_classes[@]}"
