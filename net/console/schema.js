// Reading a module's definition (RawModuleDefV9 JSON from /schema?version=9):
// its tables, their columns and types as a person would write them.

const wrappers = {
  __identity__: 'Identity',
  __connection_id__: 'ConnectionId',
  __timestamp_micros_since_unix_epoch__: 'Timestamp',
  __time_duration_micros__: 'TimeDuration',
};

const nameOf = (element) => element.name?.some ?? '';

export function typeText(type, def) {
  const [kind] = Object.keys(type);
  const body = type[kind];
  switch (kind) {
    case 'Ref': {
      const named = def.types.find((t) => t.ty === body);
      return named ? named.name.name : typeText(def.typespace.types[body], def);
    }
    case 'Array': return `${typeText(body, def)}[]`;
    case 'Product': {
      if (body.elements.length === 1 && wrappers[nameOf(body.elements[0])]) return wrappers[nameOf(body.elements[0])];
      return `{ ${body.elements.map((e) => `${nameOf(e)}: ${typeText(e.algebraic_type, def)}`).join(', ')} }`;
    }
    case 'Sum': {
      const names = body.variants.map(nameOf);
      if (names.length === 2 && names[0] === 'some' && names[1] === 'none') return `${typeText(body.variants[0].algebraic_type, def)}?`;
      if (names.join() === 'Interval,Time') return 'ScheduleAt';
      return names.join(' | ');
    }
    default: return kind.toLowerCase();
  }
}

/** The tables of `def`: name, public, columns ({name, type}), primary key and indexes (column names). */
export function tablesOf(def) {
  return def.tables.map((t) => {
    const columns = def.typespace.types[t.product_type_ref].Product.elements
      .map((e) => ({ name: nameOf(e), type: typeText(e.algebraic_type, def) }));
    const columnNames = (list) => list.map((i) => columns[i].name);
    return {
      name: t.name,
      isPublic: 'Public' in t.table_access,
      isEvent: !!t.is_event,
      columns,
      primaryKey: columnNames(t.primary_key),
      unique: t.constraints.map((c) => columnNames(c.data.Unique.columns)),
      indexes: t.indexes.map((ix) => {
        const [algorithm] = Object.keys(ix.algorithm);
        const cols = ix.algorithm[algorithm];
        return { algorithm, columns: columnNames(Array.isArray(cols) ? cols : [cols]) };
      }),
      autoInc: t.sequences.map((s) => columns[s.column].name),
    };
  });
}

/** A name quoted for SQL. */
export const quoted = (name) => `"${name.replaceAll('"', '""')}"`;
