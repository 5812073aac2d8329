/** The console's routes: the RBAC matrix leaves them to console-access.test.ts (sessions, files, the event stream). */
export const CONSOLE_ROUTES = ['GET /console', 'GET /console/*', 'GET /console/auth/callback', 'GET /console/auth/login', 'GET /console/auth/session',
  'POST /console/auth/link', 'POST /console/auth/sign-out', 'GET /v1/overview/stream', 'POST /v1/console/sign-in-links'];
