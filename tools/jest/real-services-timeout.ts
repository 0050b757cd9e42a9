// Suites on real services on a 2-core machine shared with other suites: minutes, not seconds, at
// worst. (Jest 29 ignores testTimeout inside a project, hence a setup file.)
jest.setTimeout(180_000);
