// Chat templates of well-known model families, typed in as facts, rendered with the renderings their
// models expect; and the Phi-3 vocabulary's own template turned into prompt ids.
import { describe, expect, it } from 'vitest';
import { openGgufPath } from '../formats/gguf-node.ts';
import { modelPath } from '../testing/tokenizer-fixtures.ts';
import { applyChatTemplate, chatPrompt, ChatTemplateError, type ChatMessage } from './chat-template.ts';
import { loadTokenizer } from './tokenizer.ts';

// Meta-Llama-3-8B-Instruct.
const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// Qwen2-Instruct (ChatML with a default system message).
const CHATML_QWEN2 =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// Gemma 3 (system folded into the first user turn, image parts, alternation enforced).
const GEMMA3 = `{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
`;

// Phi-3.5-mini-instruct.
const PHI3 =
  "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

const CHAT: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi there ' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Name a colour.' },
];

describe('applyChatTemplate', () => {
  it('renders Llama 3 with BOS once and trimmed contents', () => {
    expect(applyChatTemplate(LLAMA3, CHAT, { bosToken: '<|begin_of_text|>' })).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(applyChatTemplate(LLAMA3, CHAT.slice(1, 2), { bosToken: '<|begin_of_text|>', addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>',
    );
  });

  it('renders ChatML (Qwen2) with its default system message when none is given', () => {
    expect(applyChatTemplate(CHATML_QWEN2, [{ role: 'user', content: 'Hi' }])).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(applyChatTemplate(CHATML_QWEN2, CHAT, { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there <|im_end|>\n' +
        '<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nName a colour.<|im_end|>\n',
    );
  });

  it('renders Gemma 3: system folded into the first turn, model role, image parts', () => {
    const msgs: ChatMessage[] = [...CHAT.slice(0, 3), { role: 'user', content: [{ type: 'image' }, { type: 'text', text: ' What is this? ' }] }];
    expect(applyChatTemplate(GEMMA3, msgs, { bosToken: '<bos>' })).toBe(
      '<bos><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n' +
        '<start_of_turn>model\nHello!<end_of_turn>\n' +
        '<start_of_turn>user\n<start_of_image>What is this?<end_of_turn>\n' +
        '<start_of_turn>model\n',
    );
  });

  it('renders Phi-3.5, with EOS when no generation prompt is asked for', () => {
    expect(applyChatTemplate(PHI3, CHAT, { eosToken: '<|endoftext|>' })).toBe(
      '<|system|>\nYou are terse.<|end|>\n<|user|>\nHi there <|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nName a colour.<|end|>\n<|assistant|>\n',
    );
    expect(applyChatTemplate(PHI3, CHAT.slice(1, 2), { eosToken: '<|endoftext|>', addGenerationPrompt: false })).toBe('<|user|>\nHi there <|end|>\n<|endoftext|>');
  });

  it('passes tools and extra variables', () => {
    const t = '{% if tools %}{% for t in tools %}[{{ t.function.name }}]{% endfor %}{% endif %}{{ messages[0].content }}{% if enable_thinking is false %}/no_think{% endif %}';
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: {} } }];
    expect(applyChatTemplate(t, [{ role: 'user', content: 'x' }], { tools, extra: { enable_thinking: false } })).toBe('[get_weather]x/no_think');
    expect(applyChatTemplate(t, [{ role: 'user', content: 'x' }])).toBe('x');
  });

  it('reports parse errors and raise_exception as ChatTemplateError', () => {
    expect(() => applyChatTemplate('{% for %}', CHAT)).toThrow(ChatTemplateError);
    expect(() => applyChatTemplate(GEMMA3, [{ role: 'assistant', content: 'x' }])).toThrow(/roles must alternate/);
  });
});

describe('chatPrompt with the Phi-3 vocabulary', () => {
  it("renders the file's template, drops the BOS text the tokenizer adds, and tokenizes its special tokens", async () => {
    const gguf = await openGgufPath(modelPath('ggml-vocab-phi-3.gguf'));
    const tok = loadTokenizer(gguf);
    await gguf.close();
    const text = chatPrompt(tok, [{ role: 'user', content: 'Hi' }]);
    expect(text).toBe('<|user|>\nHi<|end|>\n<|assistant|>\n');
    const ids = tok.encode(text, { addSpecial: true, parseSpecial: true });
    // BOS once, then <|user|> "▁Hi" <|end|> <|assistant|> (Phi-3's special tokens swallow the newlines).
    expect(ids).toEqual([1, 32010, 6324, 32007, 32001]);
    expect(() => chatPrompt(tok, [], { template: '{% if %}' })).toThrow(ChatTemplateError);
  });
});
