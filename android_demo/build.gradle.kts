// Versions that fit together: compileSdk 36 needs AGP 8.9.1 or newer, AGP 8.11 needs
// Gradle 8.13 (gradle/wrapper/gradle-wrapper.properties), Kotlin 2.2 needs AGP 8.10 or newer.
plugins {
    id("com.android.application") version "8.11.1" apply false
    id("org.jetbrains.kotlin.android") version "2.2.20" apply false
}
