// The models the chat page offers (models/registry.json): where each file lives on the Hugging Face hub,
// the name it has in models/ once `npm run models` placed it there, and how far its name and size were
// checked. Plain data and helpers, shared by the page and scripts/models.ts.

import registryJson from '../../models/registry.json';

export type FileCheck = 'exact' | 'hub-listing' | 'unverified';

export interface RegistryFile {
  repo: string;
  /** Path inside the hub repository. */
  path: string;
  /** Local file name in models/ (default: the path's last part). */
  name?: string;
  /** Exact when checked is 'exact', else the hub listing's rounded size or a guess. */
  bytes: number;
  sha256?: string;
  checked: FileCheck;
}

export interface RegistryModel {
  id: string;
  label: string;
  about: string;
  architecture: string;
  parameters: string;
  vision: boolean;
  files: { model: RegistryFile; mmproj?: RegistryFile };
}

export interface Registry {
  default: string;
  models: RegistryModel[];
}

export const registry: Registry = registryJson as Registry;

export function defaultModel(): RegistryModel {
  const m = registry.models.find((x) => x.id === registry.default);
  if (!m) throw new Error(`models/registry.json: the default model '${registry.default}' is not in the list`);
  return m;
}

export function findModel(id: string): RegistryModel | undefined {
  return registry.models.find((x) => x.id === id);
}

export function localName(f: RegistryFile): string {
  return f.name ?? f.path.slice(f.path.lastIndexOf('/') + 1);
}

/** Where the hub serves a file; `endpoint` replaces https://huggingface.co (a mirror). */
export function hubUrl(f: RegistryFile, endpoint = 'https://huggingface.co'): string {
  const path = f.path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${f.repo}/resolve/main/${path}`;
}

export function totalBytes(m: RegistryModel): number {
  return m.files.model.bytes + (m.files.mmproj?.bytes ?? 0);
}

/** The weakest check among the model's files. */
export function weakestCheck(m: RegistryModel): FileCheck {
  const order: FileCheck[] = ['unverified', 'hub-listing', 'exact'];
  const files = [m.files.model, ...(m.files.mmproj ? [m.files.mmproj] : [])];
  return order[Math.min(...files.map((f) => order.indexOf(f.checked)))];
}
