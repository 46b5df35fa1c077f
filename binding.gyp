{
  "variables": {
    "shortgpt_defines": [
      "NAPI_VERSION=8",
      "NAPI_CPP_EXCEPTIONS",
      "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
      "SHORTGPT_BUILD_SYSTEM=\"node-gyp\""
    ],
    "shortgpt_cflags": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fexceptions", "-fvisibility=hidden"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "defines": ["<@(shortgpt_defines)"],
    "cflags!": ["-fno-exceptions", "-O2"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2"],
    "cflags_cc": ["<@(shortgpt_cflags)"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_OPTIMIZATION_LEVEL": "3",
      "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    "msvs_settings": {
      "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
    }
  },
  "targets": [
    {
      "target_name": "shortgpt",
      "sources": ["<!@(node scripts/native-sources.cjs portable)"]
    }
  ]
}
