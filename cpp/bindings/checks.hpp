// Argument checks for the bindings. Every failure raises TypeError or
// ValueError naming the argument, the expected value and the actual one.
// Arrays are never converted: a silent copy of an array the core writes to
// would mean training updates a temporary.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace pyanimf::bindings {

namespace py = pybind11;

// A 1-D, C-contiguous array of dtype T; writeable when asked.
template <typename T>
void check_vector(const py::array& array, const char* name, bool writeable = false) {
    const py::dtype expected = py::dtype::of<T>();
    if (!array.dtype().is(expected)) {
        throw py::type_error(std::string(name) + ": expected dtype " +
                             py::str(expected).cast<std::string>() + ", got " +
                             py::str(array.dtype()).cast<std::string>());
    }
    if (array.ndim() != 1) {
        throw py::value_error(std::string(name) + ": expected a 1-D array, got " +
                              std::to_string(array.ndim()) + " dimensions");
    }
    if (!(array.flags() & py::array::c_style)) {
        throw py::value_error(std::string(name) + ": expected a C-contiguous array, got a strided view");
    }
    if (writeable && !array.writeable()) {
        throw py::value_error(std::string(name) + ": expected a writeable array, got a read-only one");
    }
}

inline void check_same_length(const py::array& a, const char* a_name, const py::array& b,
                              const char* b_name) {
    if (a.size() != b.size()) {
        throw py::value_error(std::string(b_name) + ": expected the length of " + a_name + " (" +
                              std::to_string(a.size()) + "), got " + std::to_string(b.size()));
    }
}

inline void check_range(long long value, long long low, long long high, const char* name) {
    if (value < low || value > high) {
        throw py::value_error(std::string(name) + ": expected " + std::to_string(low) + " to " +
                              std::to_string(high) + ", got " + std::to_string(value));
    }
}

}  // namespace pyanimf::bindings
