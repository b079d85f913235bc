// Sign-in: with a one-time link from `orrery console`, or a pasted token.

import { identityOf, session } from './api.js';
import { h, problem } from './ui.js';

export function signInPage(error, done) {
  const token = h('textarea', { id: 'token', rows: 4, placeholder: 'eyJhbGciOi…', spellcheck: 'false' });
  const status = h('div', {});
  const submit = async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const text = token.value.trim();
    if (!text) return status.append(problem(new Error('Paste a token first.')));
    try {
      session.save(text, await identityOf(text));
      done();
    } catch (err) {
      status.append(problem(err));
    }
  };
  return h('section', { class: 'signin card' },
    h('h1', {}, 'Sign in to this host'),
    error ? problem(error) : null,
    h('p', {}, 'Run ', h('code', {}, 'orrery console'),
      ' and open the link it prints: it signs you in as the CLI\'s identity, once, within five minutes.'),
    h('form', { onsubmit: submit },
      h('label', { for: 'token' }, 'Or paste a token: the one ', h('code', {}, 'orrery login'),
        ' saved in ', h('code', {}, '~/.config/orrery/config.json'), ', or your own JWT'),
      token,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    status,
    h('p', { class: 'hint' }, 'The console calls the same HTTP API as the CLI, with your token: it can see and do what your identity may, nothing more.'));
}
