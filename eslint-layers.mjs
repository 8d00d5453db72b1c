// The `partwise/layers` lint rule (after VS Code's code-layering rule): every
// folder of the code base is a layer, and each layer names the layers it may
// import. A relative import into a layer it does not name fails the lint, and
// so the build. The layers themselves are declared in eslint.config.js.
//
// Options: { layers: { [folder]: { allow: string[], types?: string[] } } }
//   allow  folders this one may import anything from ('*': every folder);
//   types  folders it may import types only from (`import type`), e.g. the
//          handler contract of another layer it implements.
// A file outside every declared folder is not checked; an import of a file
// outside every declared folder (electron/version.ts) is allowed.
import path from 'node:path';

function layerOf(cwd, file, names) {
  const relative = path.relative(cwd, file).split(path.sep).join('/');
  let found = null;
  for (const name of names) {
    if (relative.startsWith(`${name}/`) && (found === null || name.length > found.length)) found = name;
  }
  return found;
}

function typeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specifiers = node.specifiers ?? [];
  return specifiers.length > 0 && specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type');
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Each folder imports only the folders its layer allows (see eslint.config.js).' },
    schema: [{ type: 'object', properties: { layers: { type: 'object' } }, required: ['layers'] }],
    messages: {
      forbidden: '{{from}} may not import {{to}}: it may import {{allowed}} (layers in eslint.config.js).',
      typesOnly:
        '{{from}} may import only types from {{to}} (`import type`): it implements its contract, not its code.',
    },
  },
  create(context) {
    const { layers } = context.options[0];
    const names = Object.keys(layers);
    const from = layerOf(context.cwd, context.filename, names);
    if (from === null) return {};
    const { allow = [], types = [] } = layers[from];
    if (allow.includes('*')) return {};

    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = layerOf(context.cwd, path.resolve(path.dirname(context.filename), source), names);
      if (to === null || to === from || allow.includes(to)) return;
      if (types.includes(to)) {
        if (!typeOnly(node)) context.report({ node, messageId: 'typesOnly', data: { from, to } });
        return;
      }
      const allowed = [...allow, ...types.map((t) => `types of ${t}`)].join(', ') || 'nothing outside itself';
      context.report({ node, messageId: 'forbidden', data: { from, to, allowed } });
    };

    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { layers: layersRule } };
