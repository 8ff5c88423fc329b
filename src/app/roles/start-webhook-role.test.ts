import { describe, expect, it } from 'vitest';
import { namingBoundPort } from './start-webhook-role.js';

describe('namingBoundPort', () => {
  it('a base URL naming port 0 (derived from server.public.port: 0) names the bound port', () => {
    expect(namingBoundPort('http://127.0.0.1:0', 0, 41234)).toBe('http://127.0.0.1:41234');
  });

  it('keeps a configured base URL: a real public URL, or a fixed port', () => {
    expect(namingBoundPort('https://idgate.example.com', 0, 41234)).toBe('https://idgate.example.com');
    expect(namingBoundPort('http://127.0.0.1:8080', 8080, 8080)).toBe('http://127.0.0.1:8080');
    expect(namingBoundPort('http://127.0.0.1:10', 0, 41234)).toBe('http://127.0.0.1:10');
  });
});
