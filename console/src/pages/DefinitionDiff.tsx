import { diffSequences, sideBySide, stableJson, type DiffPart } from '../diff';

type Definition = Record<string, unknown>;

/** The parts of a definition a reviewer compares, in the order they read them. */
const PARTS: [key: string, label: string][] = [
  ['description', 'Description'],
  ['inputs', 'Input schema'],
  ['outputs', 'Output schema'],
  ['callTemplate', 'Call template'],
  ['tags', 'Tags'],
];

/** Words and the spaces between them, so a changed description highlights only what changed. */
const words = (text: string) => text.match(/\s+|\S+/g) ?? [];

function Words({ parts, side }: { parts: DiffPart[]; side: 'removed' | 'added' }) {
  return (
    <p className="diff-text">
      {parts.map((part, i) => {
        const text = part.items.join('');
        if (part.kind === 'same') return <span key={i}>{text}</span>;
        if (part.kind !== side) return null;
        return side === 'removed' ? <del key={i}>{text}</del> : <ins key={i}>{text}</ins>;
      })}
    </p>
  );
}

/** One part side by side: the approved lines on the left, the pending ones on the right, changes marked (not by colour alone). */
function LinesDiff({ before, after, label }: { before: string; after: string; label: string }) {
  const rows = sideBySide(diffSequences(before.split('\n'), after.split('\n')));
  return (
    <div className="diff-scroll">
      <table className="diff">
        <caption className="sr-only">{label}: approved on the left, pending on the right</caption>
        <thead>
          <tr>
            <th scope="col">Approved</th>
            <th scope="col">Pending</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i} className={row.changed ? 'changed' : undefined}>
              <td>{row.left === null ? null : row.changed ? <del>{row.left}</del> : <code>{row.left}</code>}</td>
              <td>{row.right === null ? null : row.changed ? <ins>{row.right}</ins> : <code>{row.right}</code>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The approved and pending definitions of a tool, part by part, with what changed highlighted and unchanged parts folded. */
export function DefinitionDiff({ approved, pending }: { approved: Definition | null; pending: Definition }) {
  return (
    <div className="definition-diff">
      {PARTS.map(([key, label]) => {
        const before = approved?.[key];
        const after = pending[key];
        const same = stableJson(before) === stableJson(after);
        if (key === 'description' && typeof after === 'string') {
          const parts = diffSequences(words(typeof before === 'string' ? before : ''), words(after));
          return (
            <section key={key} aria-label={label} data-changed={!same}>
              <h4>
                {label} {same ? <span className="badge">unchanged</span> : <span className="badge warn">changed</span>}
              </h4>
              <div className="columns">
                <div>
                  <h5 className="sr-only">Approved</h5>
                  <Words parts={parts} side="removed" />
                </div>
                <div>
                  <h5 className="sr-only">Pending</h5>
                  <Words parts={parts} side="added" />
                </div>
              </div>
            </section>
          );
        }
        return (
          <section key={key} aria-label={label} data-changed={!same}>
            {same ? (
              <details>
                <summary>
                  {label} <span className="badge">unchanged</span>
                </summary>
                <pre>{stableJson(after)}</pre>
              </details>
            ) : (
              <>
                <h4>
                  {label} <span className="badge warn">changed</span>
                </h4>
                <LinesDiff before={stableJson(before)} after={stableJson(after)} label={label} />
              </>
            )}
          </section>
        );
      })}
    </div>
  );
}
