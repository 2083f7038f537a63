#include "state/store.h"

#include "config/base/bytes.h"

namespace osprey::state {

namespace {
void AppendPrefix(std::string* out, std::string_view pipeline, std::string_view op,
                  std::string_view topic, int32_t partition) {
  ByteWriter w(out);
  w.PutString(pipeline);
  w.PutString(op);
  w.PutString(topic);
  // Big-endian with the sign bit flipped, so partitions sort numerically.
  auto u = static_cast<uint32_t>(partition) ^ 0x80000000u;
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(u >> shift));
}
}  // namespace

std::string EncodeStatePrefix(std::string_view pipeline, std::string_view op,
                              std::string_view topic, int32_t partition) {
  std::string out;
  AppendPrefix(&out, pipeline, op, topic, partition);
  return out;
}

std::string EncodeStateKey(std::string_view pipeline, std::string_view op, std::string_view topic,
                           int32_t partition, std::string_view key) {
  std::string out;
  AppendPrefix(&out, pipeline, op, topic, partition);
  out.append(key.data(), key.size());
  return out;
}

Result<StateKey> DecodeStateKey(std::string_view encoded) {
  ByteReader r(encoded);
  StateKey key;
  if (!r.GetString(&key.pipeline) || !r.GetString(&key.op) || !r.GetString(&key.topic) ||
      r.remaining() < 4) {
    return Status::Corruption("state key: truncated");
  }
  size_t pos = encoded.size() - r.remaining();
  uint32_t u = 0;
  for (int idx = 0; idx < 4; ++idx) u = (u << 8) | static_cast<uint8_t>(encoded[pos + idx]);
  key.partition = static_cast<int32_t>(u ^ 0x80000000u);
  key.key.assign(encoded.substr(pos + 4));
  return key;
}

std::string PrintableBytes(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace osprey::state
