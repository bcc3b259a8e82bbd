"""The duty manager's web console (`/console`): server-rendered pages over the router's own
domain functions, signed session cookies and CSRF tokens, a little vanilla JavaScript."""
