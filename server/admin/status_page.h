// The admin port's status page (GET /): server/admin/status_page.html, embedded by the build
// (server/admin/embed_status_page.cmake), and the Content-Security-Policy that lets exactly its
// inline script and style run.
#pragma once

#include <string_view>

namespace ttlogin::server::admin {

extern const std::string_view kStatusPageHtml;
extern const std::string_view kStatusPageCsp;

}  // namespace ttlogin::server::admin
