// Plain Java: no android.* imports, so `./gradlew :core:test` (or ../run_core_tests.sh,
// which needs only a JDK and junit4) tests all the demo's logic on any machine.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}
