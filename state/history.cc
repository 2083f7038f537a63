#include "state/history.h"

#include <limits>

#include "config/base/bytes.h"

namespace osprey::state {

namespace {

constexpr uint8_t kHistoryValueVersion = 1;

// Big-endian with the sign bit flipped: signed integers that sort numerically as bytes.
template <typename T>
void PutOrdered(std::string* out, T v) {
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v) ^ (U{1} << (8 * sizeof(T) - 1));
  for (int shift = 8 * sizeof(T) - 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>(u >> shift));
  }
}

template <typename T>
bool GetOrdered(std::string_view* in, T* v) {
  using U = std::make_unsigned_t<T>;
  if (in->size() < sizeof(T)) return false;
  U u = 0;
  for (size_t idx = 0; idx < sizeof(T); ++idx) u = (u << 8) | static_cast<uint8_t>((*in)[idx]);
  *v = static_cast<T>(u ^ (U{1} << (8 * sizeof(T) - 1)));
  in->remove_prefix(sizeof(T));
  return true;
}

int64_t EventTimeOf(std::string_view key, std::string_view pipeline_begin) {
  std::string_view rest = key.substr(pipeline_begin.size());
  int64_t t = 0;
  return GetOrdered(&rest, &t) ? t : std::numeric_limits<int64_t>::min();
}

}  // namespace

std::string HistoryBegin(std::string_view pipeline) {
  std::string out;
  ByteWriter(&out).PutString(pipeline);
  return out;
}

std::string HistoryEnd(std::string_view pipeline) {
  // The length prefix makes "pipeline" + 0xff... greater than every key of this pipeline and
  // smaller than those of the next.
  std::string out = HistoryBegin(pipeline);
  out.append(9, '\xff');
  return out;
}

std::string HistoryTimeBound(std::string_view pipeline, int64_t event_time_ms) {
  std::string out = HistoryBegin(pipeline);
  PutOrdered(&out, event_time_ms);
  return out;
}

std::string EncodeHistoryKey(std::string_view pipeline, int64_t event_time_ms,
                             std::string_view topic, int32_t partition, int64_t offset) {
  std::string out = HistoryTimeBound(pipeline, event_time_ms);
  ByteWriter(&out).PutString(topic);
  PutOrdered(&out, partition);
  PutOrdered(&out, offset);
  return out;
}

std::string EncodeHistoryValue(std::string_view record_key,
                               const std::vector<std::pair<std::string, double>>& fields) {
  std::string out;
  ByteWriter w(&out);
  w.Put(kHistoryValueVersion);
  w.PutString(record_key);
  w.PutVarint(fields.size());
  for (const auto& [name, value] : fields) {
    w.PutString(name);
    w.Put(value);
  }
  return out;
}

Result<HistoryRow> DecodeHistoryRow(std::string_view key, std::string_view value) {
  HistoryRow row;
  ByteReader kr(key);
  if (!kr.GetString(&row.pipeline)) return Status::Corruption("history key: truncated");
  std::string_view rest = key.substr(key.size() - kr.remaining());
  if (!GetOrdered(&rest, &row.event_time_ms)) return Status::Corruption("history key: truncated");
  ByteReader tr(rest);
  if (!tr.GetString(&row.topic)) return Status::Corruption("history key: truncated");
  rest = rest.substr(rest.size() - tr.remaining());
  if (!GetOrdered(&rest, &row.partition) || !GetOrdered(&rest, &row.offset) || !rest.empty()) {
    return Status::Corruption("history key: truncated");
  }
  ByteReader r(value);
  uint8_t version = 0;
  if (!r.Get(&version)) return Status::Corruption("history row: empty");
  if (version != kHistoryValueVersion) {
    return Status::Corruption("history row: version " + std::to_string(version) +
                              " is not supported (this build reads " +
                              std::to_string(kHistoryValueVersion) + ")");
  }
  uint64_t n = 0;
  if (!r.GetString(&row.key) || !r.GetVarint(&n) || n > r.remaining()) {
    return Status::Corruption("history row: truncated");
  }
  row.fields.resize(n);
  for (auto& [name, v] : row.fields) {
    if (!r.GetString(&name) || !r.Get(&v)) return Status::Corruption("history row: truncated");
  }
  if (!r.done()) return Status::Corruption("history row: trailing bytes");
  return row;
}

Result<int64_t> EnforceHistoryRetention(RocksStore& store, std::string_view pipeline,
                                        const HistoryRetention& retention) {
  const std::string begin = HistoryBegin(pipeline);
  const std::string end = HistoryEnd(pipeline);
  int64_t oldest = std::numeric_limits<int64_t>::min();
  int64_t newest = std::numeric_limits<int64_t>::min();
  OSPREY_RETURN_IF_ERROR(
      store.ForEach(kHistoryFamily, begin, end, [&](std::string_view key, std::string_view) {
        oldest = EventTimeOf(key, begin);
        return false;
      }));
  if (oldest == std::numeric_limits<int64_t>::min()) return oldest;  // no rows
  OSPREY_ASSIGN_OR_RETURN(std::string last, store.LastKey(kHistoryFamily, begin, end));
  newest = EventTimeOf(last, begin);

  int64_t cut = std::numeric_limits<int64_t>::min();  // rows before it go
  if (retention.max_age_ms > 0 && newest - retention.max_age_ms > oldest) {
    cut = newest - retention.max_age_ms;
  }
  if (retention.max_bytes > 0) {
    const std::string from =
        cut == std::numeric_limits<int64_t>::min() ? begin : HistoryTimeBound(pipeline, cut);
    OSPREY_ASSIGN_OR_RETURN(uint64_t total, store.ApproximateBytes(kHistoryFamily, from, end));
    if (total > static_cast<uint64_t>(retention.max_bytes)) {
      // Binary search for the earliest time t such that [t, end) fits in max_bytes.
      int64_t lo = std::max(oldest, cut), hi = newest + 1;
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        OSPREY_ASSIGN_OR_RETURN(
            uint64_t kept,
            store.ApproximateBytes(kHistoryFamily, HistoryTimeBound(pipeline, mid), end));
        if (kept <= static_cast<uint64_t>(retention.max_bytes)) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      cut = std::max(cut, lo);
    }
  }
  if (cut == std::numeric_limits<int64_t>::min()) return cut;
  const std::string upto = HistoryTimeBound(pipeline, cut);
  OSPREY_RETURN_IF_ERROR(store.DeleteRange(kHistoryFamily, begin, upto));
  OSPREY_RETURN_IF_ERROR(store.CompactRange(kHistoryFamily, begin, upto));
  return cut;
}

}  // namespace osprey::state
