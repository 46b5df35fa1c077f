/** Tokenizers from GGUF vocabularies that match llama.cpp token for token. */
export { loadTokenizer, type DecodeOptions, type EncodeOptions, type Tokenizer } from "./tokenizer.js";
export { TokenAttr, loadVocab, type SpecialTokenIds, type Vocab, type VocabType } from "./vocab.js";
export { SUPPORTED_PRE_TYPES } from "./pre-tokenizers.js";
