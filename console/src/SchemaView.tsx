import { Table } from './ui';

interface Row {
  path: string;
  type: string;
  required: boolean;
  description: string;
}

type Schema = Record<string, unknown>;

function typeLabel(s: Schema): string {
  if (Array.isArray(s.enum)) return `one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`;
  const type = Array.isArray(s.type) ? s.type.join(' | ') : typeof s.type === 'string' ? s.type : 'any';
  const bounds = ['minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'format', 'default']
    .filter((k) => k in s)
    .map((k) => `${k} ${JSON.stringify(s[k])}`);
  return bounds.length ? `${type} (${bounds.join(', ')})` : type;
}

function rows(schema: unknown, path: string, required: boolean, out: Row[]): Row[] {
  if (!schema || typeof schema !== 'object') return out;
  const s = schema as Schema;
  if (path) out.push({ path, type: typeLabel(s), required, description: typeof s.description === 'string' ? s.description : '' });
  const need = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) {
    rows(child, path ? `${path}.${name}` : name, need.has(name), out);
  }
  if (s.items && typeof s.items === 'object') rows(s.items, `${path || 'item'}[]`, false, out);
  return out;
}

/** A JSON Schema as a table of its fields; the raw schema stays one click away. */
export function SchemaView({ schema, title }: { schema: unknown; title: string }) {
  const fields = rows(schema, '', false, []);
  const root = schema && typeof schema === 'object' ? typeLabel(schema as Schema) : 'any';
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      {fields.length === 0 ? (
        <p>
          A value of type <code>{root}</code>.
        </p>
      ) : (
        <Table columns={['Field', 'Type', 'Required', 'Description']}>
          {fields.map((f) => (
            <tr key={f.path}>
              <td>
                <code>{f.path}</code>
              </td>
              <td>{f.type}</td>
              <td>{f.required ? 'yes' : 'no'}</td>
              <td>{f.description}</td>
            </tr>
          ))}
        </Table>
      )}
      <details>
        <summary>JSON Schema</summary>
        <pre>{JSON.stringify(schema ?? {}, null, 2)}</pre>
      </details>
    </section>
  );
}
