// A small WGSL preprocessor so one shader file can serve its variants (f16/f32, subgroups, quant types):
//   #include "name"        text of shaders/name.wgsl (once per shader; {{NAME}} works in the name)
//   #if NAME / #if !NAME / #elif NAME / #else / #endif   on truthy defines
//   {{NAME}}               the define's value
// `enable` directives are hoisted to the top, followed by the generated Params struct.

import { SHADERS } from '../generated/shaders.ts';
import { ShaderCompileError } from './errors.ts';

export type Defines = Record<string, string | number | boolean>;

export function shaderSource(name: string): string {
  const src = SHADERS[name];
  if (src === undefined) throw new ShaderCompileError(name, `no shader named ${name} in shaders/`);
  return src;
}

export function preprocess(name: string, defines: Defines = {}): string {
  const included = new Set<string>();
  const out: string[] = [];
  const expand = (file: string) => {
    if (included.has(file)) return;
    included.add(file);
    // stack of [active, anyBranchTaken, parentActive]
    const stack: [boolean, boolean, boolean][] = [];
    const active = () => (stack.length ? stack[stack.length - 1][0] : true);
    const truthy = (expr: string) => {
      const e = expr.trim();
      const neg = e.startsWith('!');
      const v = defines[neg ? e.slice(1).trim() : e];
      const t = v !== undefined && v !== false && v !== 0 && v !== '';
      return neg ? !t : t;
    };
    const lines = shaderSource(file).split('\n');
    lines.forEach((line, i) => {
      const t = line.trim();
      const m = /^#(if|elif|else|endif|include)\b\s*(.*)$/.exec(t);
      if (!m) {
        if (active()) out.push(line.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
          if (!(k in defines)) throw new ShaderCompileError(file, `line ${i + 1}: {{${k}}} has no define`);
          return String(defines[k]);
        }));
        return;
      }
      const [, dir, arg] = m;
      if (dir === 'include') {
        if (active()) expand(arg.replace(/^"|"$/g, '').replace(/\{\{(\w+)\}\}/g, (_, k: string) => String(defines[k])));
      } else if (dir === 'if') {
        const parent = active();
        const v = parent && truthy(arg);
        stack.push([v, v, parent]);
      } else if (dir === 'elif' || dir === 'else') {
        const top = stack[stack.length - 1];
        if (!top) throw new ShaderCompileError(file, `line ${i + 1}: #${dir} without #if`);
        const v = top[2] && !top[1] && (dir === 'else' || truthy(arg));
        top[0] = v;
        top[1] = top[1] || v;
      } else {
        if (!stack.pop()) throw new ShaderCompileError(file, `line ${i + 1}: #endif without #if`);
      }
    });
    if (stack.length) throw new ShaderCompileError(file, 'unterminated #if');
  };
  expand(name);
  const enables = out.filter((l) => /^\s*enable\s+\w+/.test(l));
  const body = out.filter((l) => !/^\s*enable\s+\w+/.test(l));
  return [...new Set(enables.map((l) => l.trim())), ...body].join('\n');
}
