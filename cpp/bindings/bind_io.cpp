// Python bindings of the ratings parser and the id mapping. This file only
// validates arguments and converts results: the work is in cpp/io/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "bindings/checks.hpp"
#include "io/csv_reader.hpp"
#include "io/id_map.hpp"
#include "io/score_extremes.hpp"

namespace py = pybind11;

namespace {

// Hand a vector's memory to a 1-D numpy array without copying: the vector
// moves into a heap object that the array's base capsule deletes.
template <typename T, typename Allocator>
py::array_t<T> to_numpy(std::vector<T, Allocator>&& values) {
    using Vector = std::vector<T, Allocator>;
    if (values.empty()) return py::array_t<T>(0);
    auto owned = std::make_unique<Vector>(std::move(values));
    py::capsule base(owned.get(), [](void* pointer) { delete static_cast<Vector*>(pointer); });
    Vector* raw = owned.release();  // the capsule owns it from here
    return py::array_t<T>(static_cast<py::ssize_t>(raw->size()), raw->data(), base);
}

// A read-only export of a buffer-protocol object, released on scope exit.
class ByteView {
public:
    explicit ByteView(const py::buffer& data) {
        // PyBUF_SIMPLE requests one contiguous block of bytes.
        if (PyObject_GetBuffer(data.ptr(), &view_, PyBUF_SIMPLE) != 0) {
            PyErr_Clear();
            throw py::type_error("parse_ratings: data must be a contiguous bytes-like object "
                                 "(bytes, bytearray, memoryview or mmap), got a " +
                                 std::string(py::str(py::type::handle_of(data).attr("__name__"))) +
                                 " that cannot export contiguous bytes");
        }
    }
    ~ByteView() { PyBuffer_Release(&view_); }
    ByteView(const ByteView&) = delete;
    ByteView& operator=(const ByteView&) = delete;

    std::string_view bytes() const {
        return std::string_view(static_cast<const char*>(view_.buf), static_cast<std::size_t>(view_.len));
    }

private:
    Py_buffer view_{};
};

py::tuple parse_ratings(const py::buffer& data, const std::string& source, std::optional<double> unrated,
                        int threads, std::optional<long long> chunks, bool release_text) {
    if (unrated && !std::isfinite(*unrated)) {
        throw py::value_error("parse_ratings: unrated must be a finite number or None, got " +
                              std::string(py::repr(py::float_(*unrated))));
    }
    pyanimf::bindings::check_range(threads, 1, 4096, "threads");
    if (chunks && *chunks < 1) {
        throw py::value_error("chunks: expected a positive integer or None, got " + std::to_string(*chunks));
    }
    const ByteView view(data);
    pyanimf::io::RatingsColumns columns;
    {
        // Safe without the GIL: the buffer export held by `view` keeps the
        // memory valid (bytearray and mmap cannot resize or close while it
        // exists), and parsing touches no Python object.
        py::gil_scoped_release release;
        columns = pyanimf::io::parse_ratings(view.bytes(), source, unrated, threads,
                                             chunks ? static_cast<std::size_t>(*chunks) : 0, release_text);
    }
    py::array scores = to_numpy(std::move(columns.scores));
    return std::visit(
        [&scores](auto& ids) -> py::tuple {
            return py::make_tuple(to_numpy(std::move(ids.user_ids)), to_numpy(std::move(ids.anime_ids)), scores);
        },
        columns.ids);
}

bool is_int32(const py::array& array) { return array.dtype().equal(py::dtype::of<std::int32_t>()); }

// Check that `array` is a 1-D int32 or int64 array, for the function `function`.
void check_id_array(const py::array& array, const char* function, const char* name) {
    if (!is_int32(array) && !array.dtype().equal(py::dtype::of<std::int64_t>())) {
        throw py::type_error(std::string(function) + ": " + name + " must have dtype int32 or int64, got " +
                             std::string(py::str(array.dtype())));
    }
    if (array.ndim() != 1) {
        throw py::value_error(std::string(function) + ": " + name + " must be 1-dimensional, got " +
                              std::to_string(array.ndim()) + " dimensions");
    }
}

template <typename Id>
pyanimf::io::IdMapping map_ids_of(const py::array& ids, int threads) {
    // Reading needs contiguous memory, so a strided view (a column of a 2-D
    // array, say) is copied once. The input is only read, so the copy cannot
    // hide an update.
    const auto contiguous = py::array_t<Id, py::array::c_style>::ensure(ids);
    const Id* data = contiguous.data();
    const auto count = static_cast<std::size_t>(contiguous.size());
    // Safe without the GIL: `contiguous` holds a reference to the array, so
    // its memory stays allocated, and the mapping touches no Python object.
    py::gil_scoped_release release;
    return pyanimf::io::map_ids(data, count, threads);
}

// Maps int32 ids to codes written over the ids themselves, for map_ids(in_place=True).
py::tuple map_ids_in_place(py::array& ids, int threads) {
    if (!is_int32(ids)) {
        throw py::type_error("map_ids: in_place needs an int32 array, got dtype " + std::string(py::str(ids.dtype())) +
                             "; pass in_place=False to get a new codes array");
    }
    if (!(ids.flags() & py::array::c_style) || !ids.writeable()) {
        throw py::value_error(std::string("map_ids: in_place needs a writable, contiguous array, got a ") +
                              (ids.writeable() ? "strided" : "read-only") +
                              " one; pass in_place=False to get a new codes array");
    }
    auto* data = static_cast<std::int32_t*>(ids.mutable_data());
    const auto count = static_cast<std::size_t>(ids.size());
    pyanimf::io::IdMapping mapping;
    {
        // Safe without the GIL: the caller's reference keeps `ids` alive,
        // and the mapping touches no Python object.
        py::gil_scoped_release release;
        mapping = pyanimf::io::map_ids(data, count, threads, data);
    }
    return py::make_tuple(ids, to_numpy(std::move(mapping.uniques)));
}

py::tuple map_ids(py::array& ids, int threads, bool in_place) {
    check_id_array(ids, "map_ids", "ids");
    pyanimf::bindings::check_range(threads, 1, 4096, "threads");
    if (in_place) return map_ids_in_place(ids, threads);
    pyanimf::io::IdMapping mapping =
        is_int32(ids) ? map_ids_of<std::int32_t>(ids, threads) : map_ids_of<std::int64_t>(ids, threads);
    return py::make_tuple(to_numpy(std::move(mapping.codes)), to_numpy(std::move(mapping.uniques)));
}

template <typename Id>
std::vector<std::int64_t> superseded_rows_of(const py::array& user_ids, const py::array& anime_ids, int threads) {
    // Only read, so copying a strided view once cannot hide an update.
    const auto users = py::array_t<Id, py::array::c_style>::ensure(user_ids);
    const auto anime = py::array_t<Id, py::array::c_style>::ensure(anime_ids);
    const auto count = static_cast<std::size_t>(users.size());
    // Safe without the GIL: `users` and `anime` hold references to the
    // arrays, so their memory stays allocated, and no Python object is touched.
    py::gil_scoped_release release;
    return pyanimf::io::superseded_rows(users.data(), anime.data(), count, threads);
}

py::array_t<std::int64_t> superseded_rows(const py::array& user_ids, const py::array& anime_ids, int threads) {
    pyanimf::bindings::check_range(threads, 1, 4096, "threads");
    check_id_array(user_ids, "superseded_rows", "user_ids");
    check_id_array(anime_ids, "superseded_rows", "anime_ids");
    if (!user_ids.dtype().equal(anime_ids.dtype())) {
        throw py::type_error("superseded_rows: user_ids and anime_ids must have the same dtype, got " +
                             std::string(py::str(user_ids.dtype())) + " and " + std::string(py::str(anime_ids.dtype())));
    }
    if (user_ids.size() != anime_ids.size()) {
        throw py::value_error("superseded_rows: user_ids and anime_ids must have the same length, got " +
                              std::to_string(user_ids.size()) + " and " + std::to_string(anime_ids.size()));
    }
    return to_numpy(is_int32(user_ids) ? superseded_rows_of<std::int32_t>(user_ids, anime_ids, threads)
                                       : superseded_rows_of<std::int64_t>(user_ids, anime_ids, threads));
}

py::dict end_to_dict(const pyanimf::io::ScoreEnd& end) {
    py::dict result;
    result["value"] = end.value;
    result["count"] = end.count;
    result["first_row"] = end.first_row;
    result["next"] = end.has_next ? py::object(py::float_(end.next)) : py::object(py::none());
    return result;
}

py::dict score_extremes(const py::array& scores, int threads) {
    pyanimf::bindings::check_range(threads, 1, 4096, "threads");
    if (!scores.dtype().equal(py::dtype::of<float>())) {
        throw py::type_error("score_extremes: scores must have dtype float32, got " +
                             std::string(py::str(scores.dtype())));
    }
    if (scores.ndim() != 1) {
        throw py::value_error("score_extremes: scores must be 1-dimensional, got " + std::to_string(scores.ndim()) +
                              " dimensions");
    }
    // Only read, so copying a strided view once cannot hide an update.
    const auto contiguous = py::array_t<float, py::array::c_style>::ensure(scores);
    pyanimf::io::ScoreExtremes extremes;
    {
        // Safe without the GIL: `contiguous` keeps a reference to the array,
        // so its memory stays allocated, and no Python object is touched.
        py::gil_scoped_release release;
        extremes = pyanimf::io::find_score_extremes(contiguous.data(), static_cast<std::size_t>(contiguous.size()),
                                                    threads);
    }
    py::dict result;
    result["scored"] = extremes.scored;
    if (extremes.scored > 0) {
        result["highest"] = end_to_dict(extremes.highest);
        result["lowest"] = end_to_dict(extremes.lowest);
    }
    return result;
}

}  // namespace

void bind_io(py::module_& m) {
    // RatingsParseError is registered first, so the later, more specific
    // NonIntegerIdError translator runs first. The two C++ types are unrelated
    // anyway.
    py::register_exception<pyanimf::io::RatingsParseError>(m, "RatingsParseError", PyExc_ValueError);
    py::register_exception<pyanimf::io::NonIntegerIdError>(m, "NonIntegerIdError", PyExc_ValueError);

    m.def("parse_ratings", &parse_ratings, py::arg("data"), py::arg("source"), py::arg("unrated"),
          py::arg("threads") = 1, py::arg("chunks") = py::none(), py::arg("release_text") = false,
          R"doc(Parse ratings text into (user_ids, anime_ids, scores float32) arrays.

The two id arrays are int32 when every id of the file fits in 32 bits, and
int64 otherwise.

data is the whole decompressed file as a bytes-like object (bytes, memoryview,
mmap). source names it in error messages. A score equal to unrated is stored
as NaN; unrated=None keeps every score. Raises RatingsParseError for malformed
text and NonIntegerIdError when an id is not an integer, so that the caller can
retry with a parser that supports string ids. Releases the GIL while parsing.

The data lines are cut at line starts into `chunks` parts, parsed in file
order on up to `threads` threads (1 to 4096). chunks=None uses one part per
thread or per 8 MiB, whichever gives more, and fewer for data under 1 MiB per
thread. Neither changes the result or the error raised, which is always the
one on the first bad line of the file.

release_text=True releases each part's memory pages after each of the two
passes over it. Pass it only for a read-only mapping of a file (mmap), which
then has only the parts in progress counted in memory; other data would read
as zeros afterwards.)doc");

    m.def("map_ids", &map_ids, py::arg("ids").noconvert(), py::arg("threads") = 1, py::arg("in_place") = false,
          R"doc(Map a 1-D int32 or int64 array to (codes int32, uniques int64).

codes[i] is the position of ids[i] in uniques, which lists each distinct id
once in order of first appearance. Ids that span no more values than there
are ids (fewer than 2^26) are mapped on up to threads threads (1 to 4096);
the result does not depend on the count. With in_place=True the codes
overwrite `ids`, which must be a writable, contiguous int32 array, and
`ids` itself is returned as the codes. Releases the GIL while mapping.)doc");

    m.def("superseded_rows", &superseded_rows, py::arg("user_ids").noconvert(), py::arg("anime_ids").noconvert(),
          py::arg("threads") = 1,
          R"doc(Rows whose (user, anime) pair appears again in a later row, as a sorted int64 array.

Both arguments are 1-D arrays of equal length and dtype, int32 or int64
(ids, or codes of string ids). Dropping the returned rows keeps the last
row of every pair. Rows sorted by user id with anime ids in a dense range
are searched on up to threads threads. Releases the GIL while searching.)doc");

    m.def("score_extremes", &score_extremes, py::arg("scores").noconvert(), py::arg("threads") = 1,
          R"doc(Find the highest and lowest of a 1-D float32 array of scores, skipping NaN, on up to threads threads.

Returns {"scored": number of non-NaN scores, "highest": end, "lowest": end},
without the two ends when scored is 0. Each end is a dict: value, count (rows
with that value), first_row, and next, the closest other value (the highest
below the maximum or the lowest above the minimum), None when all scores are
equal. The value of an end is its first row's score, so of 0.0 and -0.0,
which compare equal, it is the one that comes first. Releases the GIL while
scanning.)doc");
}
