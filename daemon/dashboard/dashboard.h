// The live dashboard's page: GET / and GET /static/<file>, served from the files embedded in
// the binary (daemon/dashboard/assets.h). The page reads GET /v1/pipelines and the WebSocket
// feeds /v1/pipelines/{p}/keys/{k}/live and /v1/alerts (daemon/live_hub.h, daemon/alert_hub.h).
// Thread-safe (stateless).
#pragma once

namespace osprey::daemon {

class HttpRouter;

// Registers GET / and one GET /static/... route per embedded file. Responses carry the file's
// content type, an ETag (a matching If-None-Match is answered 304 without a body),
// Cache-Control ("no-cache": revalidate each time, except vendored files: a year, immutable),
// X-Content-Type-Options: nosniff, and on the page a Content-Security-Policy allowing only
// same-origin scripts, styles and connections.
void AddDashboardRoutes(HttpRouter& router);

}  // namespace osprey::daemon
