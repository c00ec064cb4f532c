plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// One place for the LiteRT version: the dependencies below and the runtime.version
// field of benchmark results (BuildConfig.LITERT_VERSION).
val litertVersion = "1.4.0"

android {
    namespace = "dev.tinymoat.demo"
    compileSdk = 34

    defaultConfig {
        applicationId = "dev.tinymoat.demo"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
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

    kotlinOptions {
        jvmTarget = "17"
    }

    androidResources {
        // Keep the model uncompressed in the APK so it can be memory-mapped from assets.
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))

    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu-api:$litertVersion")
    // MetadataExtractor, for the input normalisation the exporter writes into the model.
    implementation("com.google.ai.edge.litert:litert-metadata:$litertVersion")

    implementation("androidx.core:core-ktx:1.13.1")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.2")
    implementation("androidx.lifecycle:lifecycle-viewmodel-ktx:2.8.6")
    implementation("androidx.lifecycle:lifecycle-livedata-ktx:2.8.6")
    implementation("androidx.exifinterface:exifinterface:1.3.7")
    implementation("com.google.android.material:material:1.12.0")
}
