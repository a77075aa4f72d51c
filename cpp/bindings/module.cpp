// Entry point of the private extension module pyanimf._core.
// Each bind_*.cpp file registers one concern; this file only wires them up.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_model(py::module_& m);
void bind_scoring(py::module_& m);
void bind_io(py::module_& m);
void bind_implicit(py::module_& m);

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyanimf native core: factor storage, SIMD SGD kernels, block scheduler, "
              "implicit term, scoring and CSV parsing. Private: use the pyanimf package instead.";
    bind_model(m);
    bind_scoring(m);
    bind_io(m);
    bind_implicit(m);
}
