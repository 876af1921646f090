// moltctl's readable output; see moltctl_print.h.
#include "cli/moltctl_print.h"

#include <cinttypes>
#include <cstdio>
#include <string_view>

namespace molt::cli {

namespace {

bool is_scalar(const JsonValue& v) { return !v.IsObject() && !v.IsArray(); }

bool all_scalars(const JsonValue& array) {
    for (const auto& e : array.GetArray()) {
        if (!is_scalar(e)) return false;
    }
    return true;
}

bool is_empty(const JsonValue& v) {
    return (v.IsObject() && v.MemberCount() == 0) || (v.IsArray() && v.Size() == 0);
}

// Strings as they are; everything else as compact JSON.
void append_scalar(std::string& out, const JsonValue& v) {
    if (v.IsString()) {
        out.append(v.GetString(), v.GetStringLength());
    } else {
        JsonWriter w(out);
        w.value(v);
    }
}

std::string_view name_of(const JsonValue& member_name) {
    return std::string_view(member_name.GetString(), member_name.GetStringLength());
}

void write_object(std::string& out, const JsonValue& object, size_t indent);
void write_items(std::string& out, const JsonValue& array, size_t indent);

// "a, b, c" for a list of scalars.
void append_scalar_list(std::string& out, const JsonValue& array) {
    bool first = true;
    for (const auto& e : array.GetArray()) {
        if (!first) out += ", ";
        first = false;
        append_scalar(out, e);
    }
}

void write_member(std::string& out, std::string_view key, const JsonValue& v, size_t indent) {
    out.append(indent, ' ');
    out += key;
    out += ':';
    if (is_scalar(v) || is_empty(v) || (v.IsArray() && all_scalars(v))) {
        out += ' ';
        if (v.IsArray() && !is_empty(v)) {
            append_scalar_list(out, v);
        } else {
            append_scalar(out, v);  // empty containers as {} and []
        }
        out += '\n';
        return;
    }
    out += '\n';
    if (v.IsObject()) {
        write_object(out, v, indent + 2);
    } else {
        write_items(out, v, indent + 2);
    }
}

void write_object(std::string& out, const JsonValue& object, size_t indent) {
    for (const auto& m : object.GetObject()) write_member(out, name_of(m.name), m.value, indent);
}

// One "- " item per element; an object's first member shares the dash's
// line and the others line up under it.
void write_items(std::string& out, const JsonValue& array, size_t indent) {
    for (const auto& e : array.GetArray()) {
        if (is_scalar(e) || is_empty(e) || (e.IsArray() && all_scalars(e))) {
            out.append(indent, ' ');
            out += "- ";
            if (e.IsArray() && !is_empty(e)) {
                append_scalar_list(out, e);
            } else {
                append_scalar(out, e);
            }
            out += '\n';
        } else if (e.IsObject()) {
            std::string item;
            write_object(item, e, indent + 2);
            out.append(indent, ' ');
            out += "- ";
            out += std::string_view(item).substr(indent + 2);
        } else {
            out.append(indent, ' ');
            out += "-\n";
            write_items(out, e, indent + 2);
        }
    }
}

// " key=value" for every leaf of an event's data, dotted as keyval spells it.
void append_flat(std::string& out, const std::string& key, const JsonValue& v) {
    if (v.IsObject() && v.MemberCount() > 0) {
        for (const auto& m : v.GetObject()) {
            std::string name(name_of(m.name));
            append_flat(out, key.empty() ? name : key + "." + name, m.value);
        }
    } else if (v.IsArray() && v.Size() > 0) {
        size_t index = 0;
        for (const auto& e : v.GetArray()) append_flat(out, key + "." + std::to_string(index++), e);
    } else {
        out += ' ';
        out += key;
        out += '=';
        append_scalar(out, v);
    }
}

}  // namespace

std::string format_readable(const JsonValue& value) {
    std::string out;
    if (value.IsObject()) {
        write_object(out, value, 0);
    } else if (value.IsArray() && all_scalars(value)) {
        for (const auto& e : value.GetArray()) {
            append_scalar(out, e);
            out += '\n';
        }
    } else if (value.IsArray()) {
        write_items(out, value, 0);
    } else {
        append_scalar(out, value);
        out += '\n';
    }
    return out;
}

std::string format_event(const JsonValue& event) {
    std::string out;
    int64_t seconds = 0;
    int64_t micros = 0;
    if (auto ts = event.FindMember("timestamp"); ts != event.MemberEnd() && ts->value.IsObject()) {
        auto s = ts->value.FindMember("seconds");
        auto us = ts->value.FindMember("microseconds");
        if (s != ts->value.MemberEnd() && s->value.IsInt64()) seconds = s->value.GetInt64();
        if (us != ts->value.MemberEnd() && us->value.IsInt64()) micros = us->value.GetInt64();
    }
    char stamp[48];
    std::snprintf(stamp, sizeof stamp, "%" PRId64 ".%06" PRId64, seconds, micros);
    out += stamp;
    out += ' ';
    if (auto name = event.FindMember("event"); name != event.MemberEnd()) {
        append_scalar(out, name->value);
    }
    if (auto data = event.FindMember("data"); data != event.MemberEnd() && data->value.IsObject()) {
        for (const auto& m : data->value.GetObject()) {
            append_flat(out, std::string(name_of(m.name)), m.value);
        }
    }
    return out;
}

}  // namespace molt::cli
