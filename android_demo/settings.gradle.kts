pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()          // androidx and com.google.ai.edge.litert
        mavenCentral()
    }
}

rootProject.name = "tinymoat-android-demo"
// core: plain Java, every piece of logic, unit-tested without the Android SDK.
// app: the Android layer (UI, photo picker, camera, LiteRT calls) around it.
include(":core", ":app")
