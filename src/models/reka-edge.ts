// Reka Edge (RekaAI/reka-edge-2603): what the engine needs to know beyond the `llama` architecture the
// text half loads as. The decoder's shapes, rope base and context length come from the GGUF; only the
// token ids of Reka's special tokens and the chat/tool-call conventions live here.
//
// Vocabulary: tiktoken's cl100k_base ids 0..100255 (byte-level BPE) followed by 96 special tokens up to
// 100351. The ids below are the ones Reka's vLLM plugin and llama.cpp's port name; the names of the other
// special ids are not known here and matter only as text.

export const REKA_EDGE_VOCAB_SIZE = 100352;

/** Reka's special tokens, by id. */
export const REKA_EDGE_TOKENS = {
  endOfText: 100257, // <|endoftext|>
  image: 100278, // <REKA_IMG_TOKEN>
  videoStart: 100284, // <video>
  videoEnd: 100285, // </video>
  sep: 100290, // <sep>: end of a turn
  toolCallStart: 100292, // <tool_call>
  toolCallEnd: 100293, // </tool_call>
  toolResponse: 100294, // <tool_response>
} as const;

export const REKA_EDGE_TOKEN_TEXT: Readonly<Record<number, string>> = {
  [REKA_EDGE_TOKENS.endOfText]: '<|endoftext|>',
  [REKA_EDGE_TOKENS.image]: '<REKA_IMG_TOKEN>',
  [REKA_EDGE_TOKENS.videoStart]: '<video>',
  [REKA_EDGE_TOKENS.videoEnd]: '</video>',
  [REKA_EDGE_TOKENS.sep]: '<sep>',
  [REKA_EDGE_TOKENS.toolCallStart]: '<tool_call>',
  [REKA_EDGE_TOKENS.toolCallEnd]: '</tool_call>',
  [REKA_EDGE_TOKENS.toolResponse]: '<tool_response>',
};

/** Generation ends on the end of a turn or of the text. */
export const REKA_EDGE_STOP_TOKENS: readonly number[] = [REKA_EDGE_TOKENS.sep, REKA_EDGE_TOKENS.endOfText];
