"""Headers on every answer of the web front door."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "SAMEORIGIN",
}
# Pages load only this site's own files: no CDN, no inline script (the viewer page adds the
# hash of its import map).
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'self'; "
    "form-action 'self'; base-uri 'none'"
)
