// keyval_parse and keyval_merge; see keyval.h for the rules.
#include "runtime/keyval.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

namespace molt {

namespace {

constexpr size_t kMaxFragment = 127;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

// Length of the QAPI name at the start of s (optional __RFQDN_ prefix),
// or 0 if there is none.
size_t qapi_name_length(std::string_view s) {
    size_t p = 0;
    if (p < s.size() && s[p] == '_') {
        p++;
        if (p >= s.size() || s[p] != '_') return 0;
        p++;
        while (p < s.size() && (is_alnum(s[p]) || s[p] == '-' || s[p] == '.')) p++;
        if (p >= s.size() || s[p] != '_') return 0;
        p++;
    }
    if (p >= s.size() || !is_alpha(s[p])) return 0;
    p++;
    while (p < s.size() && (is_alnum(s[p]) || s[p] == '-' || s[p] == '_')) p++;
    return p;
}

// A list index: the leading decimal digits, capped at INT_MAX; -1 if s does
// not start with a digit.  *len receives the number of digits.
long key_to_index(std::string_view s, size_t* len) {
    if (s.empty() || !is_digit(s[0])) return -1;
    long v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); i++) {
        if (v < INT_MAX) v = v * 10 + (s[i] - '0');
        if (v > INT_MAX) v = INT_MAX;
    }
    if (len) *len = i;
    return v;
}

bool is_index(std::string_view key) {
    size_t len = 0;
    return key_to_index(key, &len) >= 0 && len == key.size();
}

JsonValue::MemberIterator find(JsonValue& obj, std::string_view key) {
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == key) return it;
    }
    return obj.MemberEnd();
}

// The members of obj in the order QEMU's QDict iterates them: hash bucket
// (tdb_hash(key) % 512, qdict.c) ascending, newest first within a bucket.
// keyval.c depends on that order where two keys name one list index
// ("a.0", "a.00": the one iterated last wins) and for which of several
// errors is reported; member order in our output stays insertion order.
template <class Object>  // JsonValue or const JsonValue
auto qdict_order(Object& obj) {
    using Member = decltype(&*obj.MemberBegin());
    struct Entry {
        uint32_t bucket;
        size_t age;
        Member member;
    };
    std::vector<Entry> entries;
    entries.reserve(obj.MemberCount());
    size_t age = 0;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        uint32_t hash = static_cast<uint32_t>(0x238F13AFu * it->name.GetStringLength());
        const char* key = it->name.GetString();
        for (uint32_t i = 0; i < it->name.GetStringLength(); i++) {
            hash += static_cast<uint32_t>(static_cast<unsigned char>(key[i])) << (i * 5 % 24);
        }
        entries.push_back({(1103515243u * hash + 12345u) % 512u, age++, &*it});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.bucket != b.bucket ? a.bucket < b.bucket : a.age > b.age;
    });
    std::vector<Member> out;
    out.reserve(entries.size());
    for (const auto& e : entries) out.push_back(e.member);
    return out;
}

JsonValue make_string(std::string_view s, JsonAllocator& alloc) {
    JsonValue v;
    v.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
    return v;
}

class KeyvalParser {
public:
    KeyvalParser(Json& out, std::string_view implied_key)
        : m_out(out), m_implied(implied_key) {}

    // Parses one parameter at m_rest; returns false when done.
    Result<void> parse(std::string_view params, bool& help) {
        m_rest = params;
        while (!m_rest.empty()) {
            MOLT_TRY(parse_one(help));
            m_implied = {};
        }
        return ok();
    }

private:
    static Error inconsistent(std::string_view prefix) {
        return Error("Parameters '" + std::string(prefix) + ".*' used inconsistently");
    }

    // Makes cur[name] a dict (value == nullptr) or the string *value.
    Result<JsonValue*> put(JsonValue& cur, std::string_view name, const std::string* value,
                           std::string_view prefix) {
        auto& alloc = m_out.allocator();
        auto it = find(cur, name);
        if (it != cur.MemberEnd()) {
            bool want_dict = value == nullptr;
            if (want_dict ? !it->value.IsObject() : !it->value.IsString()) {
                return inconsistent(prefix);
            }
            if (!want_dict) it->value = make_string(*value, alloc);
            return &it->value;
        }
        JsonValue v;
        if (value) v = make_string(*value, alloc);
        else v.SetObject();
        cur.AddMember(make_string(name, alloc), v, alloc);
        return &(cur.MemberEnd() - 1)->value;
    }

    Result<void> parse_one(bool& help) {
        std::string_view p = m_rest;
        size_t len = p.find_first_of("=,");
        if (len == std::string_view::npos) len = p.size();
        std::string_view key = p.substr(0, len);
        std::string value;
        bool implied = false;
        if (len && (len == p.size() || p[len] != '=')) {
            size_t help_len = p[0] == '?' ? 1 : p.substr(0, 4) == "help" ? 4 : 0;
            if (help_len == len) {
                help = true;
                m_rest = p.substr(len);
                if (!m_rest.empty() && m_rest[0] == ',') m_rest.remove_prefix(1);
                return ok();
            }
            if (!m_implied.empty()) {
                value = std::string(key);
                key = m_implied;
                implied = true;
            }
        }

        // Walk the key's fragments; cur is the dict the current one names into.
        JsonValue* cur = &m_out.value();
        std::string_view prev;
        size_t s = 0;
        for (;;) {
            std::string_view rest = key.substr(s);
            size_t flen = 0;
            if (s != 0 && key_to_index(rest, &flen) >= 0) {
                // flen set by key_to_index
            } else {
                flen = qapi_name_length(rest);
            }
            if (!flen || (flen < rest.size() && rest[flen] != '.')) {
                return Error("Invalid parameter '" + std::string(key) + "'");
            }
            if (flen > kMaxFragment) {
                bool fragment = s != 0 || flen != key.size();
                return Error("Parameter" + std::string(fragment ? " fragment" : "") + " '" +
                             std::string(rest.substr(0, flen)) + "' is too long");
            }
            if (s != 0) {
                cur = MOLT_TRY(put(*cur, prev, nullptr, key.substr(0, s - 1)));
            }
            prev = rest.substr(0, flen);
            s += flen;
            if (s >= key.size() || key[s] != '.') break;
            s++;
        }

        if (implied) {
            m_rest = p.substr(len);
            if (!m_rest.empty() && m_rest[0] == ',') m_rest.remove_prefix(1);
        } else {
            if (s >= p.size() || p[s] != '=') {
                return Error("Expected '=' after parameter '" + std::string(key.substr(0, s)) + "'");
            }
            size_t i = s + 1;
            for (;;) {
                if (i >= p.size()) break;
                if (p[i] == ',') {
                    i++;
                    if (i >= p.size() || p[i] != ',') break;
                }
                value += p[i++];
            }
            m_rest = p.substr(i);
        }
        MOLT_TRY(put(*cur, prev, &value, key));
        return ok();
    }

    Json& m_out;
    std::string_view m_implied;
    std::string_view m_rest;
};

// Turns dicts whose keys are all indexes into lists, depth first.
// path is the dotted key of v followed by '.' ("" at the root).
Result<void> listify(JsonValue& v, const std::string& path, JsonAllocator& alloc) {
    auto members = qdict_order(v);
    bool has_index = false, has_member = false;
    for (auto* m : members) {
        std::string_view key(m->name.GetString(), m->name.GetStringLength());
        (is_index(key) ? has_index : has_member) = true;
        if (m->value.IsObject()) {
            MOLT_TRY(listify(m->value, path + std::string(key) + ".", alloc));
        }
    }
    if (has_index && has_member) {
        return Error("Parameters '" + path + "*' used inconsistently");
    }
    if (!has_index) return ok();

    // Element i comes from the key with index i iterated last; indexes at
    // or above the count cannot all be filled, so the smallest gap is
    // reported.
    size_t nelt = v.MemberCount() + 1;
    std::vector<JsonValue*> elt(nelt, nullptr);
    long max_index = -1;
    for (auto* m : members) {
        long index = key_to_index(std::string_view(m->name.GetString(), m->name.GetStringLength()),
                                  nullptr);
        if (index > max_index) max_index = index;
        if (static_cast<size_t>(index) < nelt - 1) elt[static_cast<size_t>(index)] = &m->value;
    }
    JsonValue list(rapidjson::kArrayType);
    size_t n = std::min(nelt, static_cast<size_t>(max_index) + 1);
    for (size_t i = 0; i < n; i++) {
        if (!elt[i]) return Error("Parameter '" + path + std::to_string(i) + "' missing");
        list.PushBack(JsonValue(std::move(*elt[i])), alloc);
    }
    v = std::move(list);
    return ok();
}

Result<void> merge(JsonValue& dest, const JsonValue& src, const std::string& prefix,
                   JsonAllocator& alloc) {
    for (auto* member : qdict_order(src)) {
        const auto& m = *member;
        std::string_view key(m.name.GetString(), m.name.GetStringLength());
        auto it = find(dest, key);
        if (it == dest.MemberEnd()) {
            dest.AddMember(make_string(key, alloc), JsonValue(m.value, alloc), alloc);
            continue;
        }
        if (it->value.GetType() != m.value.GetType()) {
            return Error("Parameter '" + prefix + std::string(key) + "' used inconsistently");
        }
        if (m.value.IsObject()) {
            MOLT_TRY(merge(it->value, m.value, prefix + std::string(key) + ".", alloc));
        } else if (m.value.IsArray()) {
            for (auto& e : m.value.GetArray()) it->value.PushBack(JsonValue(e, alloc), alloc);
        } else {
            it->value.CopyFrom(m.value, alloc);
        }
    }
    return ok();
}

}  // namespace

Result<Json> keyval_parse(std::string_view params, std::string_view implied_key, bool* help) {
    Json out = Json::object();
    bool want_help = false;
    KeyvalParser parser(out, implied_key);
    MOLT_TRY(parser.parse(params, want_help));
    if (help) *help = want_help;
    else if (want_help) return Error("Help is not available for this option");
    MOLT_TRY(listify(out.value(), "", out.allocator()));
    return out;
}

Result<void> keyval_merge(Json& dest, const JsonValue& src) {
    return merge(dest.value(), src, "", dest.allocator());
}

}  // namespace molt
