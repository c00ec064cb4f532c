import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// One place for the LiteRT version: the dependencies below and the runtime.version
// field of benchmark results (BuildConfig.LITERT_VERSION). 1.4.0 is the classic
// Interpreter API with native libraries aligned for 16 KB memory pages, which Google
// Play requires of apps targeting Android 15 and newer.
val litertVersion = "1.4.0"
val cameraxVersion = "1.5.1"

android {
    namespace = "dev.tinymoat.demo"
    // Google Play: from 31 August 2026 new apps and app updates must target Android 16 (API 36).
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.tinymoat.demo"
        minSdk = 24
        targetSdk = 36
        versionCode = 2
        versionName = "0.2.0"
        buildConfigField("String", "LITERT_VERSION", "\"$litertVersion\"")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    buildFeatures {
        buildConfig = true
        viewBinding = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // Keep the model uncompressed in the APK so it can be memory-mapped from assets.
        noCompress += "tflite"
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))

    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    // The InterpreterApi classes that litert implements, named explicitly at the same version.
    implementation("com.google.ai.edge.litert:litert-api:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu-api:$litertVersion")
    // MetadataExtractor, for the input normalisation and output name the exporter writes into the model.
    implementation("com.google.ai.edge.litert:litert-metadata:$litertVersion")

    // Live camera: preview and frames for analysis.
    implementation("androidx.camera:camera-core:$cameraxVersion")
    implementation("androidx.camera:camera-camera2:$cameraxVersion")
    implementation("androidx.camera:camera-lifecycle:$cameraxVersion")
    implementation("androidx.camera:camera-view:$cameraxVersion")

    implementation("androidx.core:core-ktx:1.13.1")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.2")
    implementation("androidx.lifecycle:lifecycle-viewmodel-ktx:2.8.6")
    implementation("androidx.lifecycle:lifecycle-livedata-ktx:2.8.6")
    implementation("androidx.exifinterface:exifinterface:1.3.7")
    implementation("com.google.android.material:material:1.12.0")
}
