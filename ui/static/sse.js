// Reins dashboard: a Server-Sent Events reader over a fetch() body, so the request can carry
// an Authorization header (EventSource cannot).

// readEvents reads the stream to its end: activity() on every chunk (pings included),
// event(type, data) for each event, id(value) for each event id.
export async function readEvents(body, { activity, event, id }) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { type: '', data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    activity();
    buf += value;
    for (;;) {
      const i = buf.search(/[\r\n]/);
      // A CR at the end may be the first half of a CRLF: wait for more.
      if (i < 0 || (buf[i] === '\r' && i === buf.length - 1)) break;
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (ev.data.length) event(ev.type || 'message', ev.data.join('\n'));
        ev = { type: '', data: [] };
        continue;
      }
      if (line[0] === ':') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val[0] === ' ') val = val.slice(1);
      if (field === 'data') ev.data.push(val);
      else if (field === 'event') ev.type = val;
      else if (field === 'id' && !val.includes('\0')) id(val);
    }
  }
}
