// The dashboard's files, compiled into the binary (generated from daemon/dashboard/ by
// embed_assets.cmake at build time). Immutable static data: thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace osprey::daemon {

struct DashboardAsset {
  std::string_view url_path;      // "/" or "/static/<path under daemon/dashboard/>"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted strong validator: a prefix of the file's SHA-256
  bool immutable;                 // vendored: referenced with its version in the URL
  std::string_view body;
};

// Every embedded file, in the order of the CMake file list.
std::span<const DashboardAsset> DashboardAssets();

}  // namespace osprey::daemon
