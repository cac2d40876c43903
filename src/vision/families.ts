// Which vision family runs an mmproj: `clip.projector_type` looked up in FAMILIES. Each entry loads its
// family from the mmproj and the text side it must fit (the tokenizer for its media tokens, the text
// model's embedding width). Adding a family is one line here.

import type { Gpu } from '../gpu/gpu.ts';
import type { Gguf } from '../formats/gguf.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { UnsupportedProjectorError, VisionConfigError } from './clip.ts';
import type { VisionLoadProgress } from './encoder.ts';
import type { VisionFamily } from './family.ts';
import { Gemma3Family } from './gemma3-family.ts';
import { Idefics3Family } from './idefics3-family.ts';
import { LlavaFamily } from './llava-family.ts';
import { loadYasa2Family } from './yasa2/family.ts';

/** What a family needs to know about the text model it feeds. */
export interface TextSide {
  tokenizer: TextTokenizer;
  /** The text model's embedding width (the family refuses another output width: ProjectorWidthError). */
  width: number;
}

/** Weight upload progress of a family's encoder (bytes of the mmproj's tensors). */
export type VisionFamilyProgress = Pick<VisionLoadProgress, 'loadedBytes' | 'totalBytes'>;

export type VisionFamilyLoader = (gpu: Gpu, gguf: Gguf, text: TextSide, onProgress?: (p: VisionFamilyProgress) => void) => Promise<VisionFamily>;

export const FAMILIES: Record<string, VisionFamilyLoader> = {
  gemma3: (gpu, gguf, text, onProgress) => Gemma3Family.load(gpu, gguf, text, onProgress),
  mlp: (gpu, gguf, text, onProgress) => LlavaFamily.load(gpu, gguf, text, onProgress),
  idefics3: (gpu, gguf, text, onProgress) => Idefics3Family.load(gpu, gguf, text, onProgress),
  yasa2: (gpu, gguf, text) => loadYasa2Family(gpu, gguf, text.tokenizer, { textWidth: text.width }),
};

/** An UnsupportedProjectorError whose message lists the families this registry can load. */
function unsupported(projector: string): UnsupportedProjectorError {
  const e = new UnsupportedProjectorError(projector);
  const supported = Object.keys(FAMILIES);
  e.message = `vision projector '${projector}' is not supported (supported: ${supported.join(', ')})`;
  e.details.supported = supported;
  return e;
}

/** Load the vision family of an mmproj GGUF for a text model. Typed errors: VisionConfigError (not an
 *  mmproj), UnsupportedProjectorError (a projector no family implements), ProjectorWidthError (the
 *  projector writes another width than the text model takes), and the family's own. */
export async function loadVisionFamily(gpu: Gpu, gguf: Gguf, text: TextSide, onProgress?: (p: VisionFamilyProgress) => void): Promise<VisionFamily> {
  const arch = gguf.getString('general.architecture', '');
  if (arch !== 'clip') throw new VisionConfigError(`general.architecture is '${arch}', an mmproj file has 'clip'`, { arch });
  // llama.cpp reads a file without clip.projector_type as the LLaVA MLP (the oldest converters wrote none).
  const projector = gguf.getString('clip.projector_type', gguf.getString('clip.vision.projector_type', 'mlp'));
  if (!Object.hasOwn(FAMILIES, projector)) throw unsupported(projector);
  return FAMILIES[projector](gpu, gguf, text, onProgress);
}

export function supportedProjectors(): string[] {
  return Object.keys(FAMILIES);
}
