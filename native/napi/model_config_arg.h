// Reading the ModelConfig object TypeScript builds (src/arch/model-config.ts)
// into the engine's struct. Every field is type-checked here (ERR_INVALID_ARG
// naming the field); values are range-checked by validate_model_config.
#pragma once

#include <napi.h>

#include "engine/model_config.h"

namespace shortgpt {

ModelConfig model_config_from_js(Napi::Env env, const Napi::Value& value);

}  // namespace shortgpt
