// ctest-label: unit
// Every step rule and the mixing, written once over ArrayOps (core/array_ops.hpp), on the host
// backends against the loops of tests/array_backend_checks.hpp: host double (the host engine's
// arithmetic) and the float-operator twin the resident engine runs for --device cpu-float, both bit
// for bit. The GPU instantiation is tests/test_array_backends_cuda.cpp.
#include "array_backend_checks.hpp"

using dposg::test::check_mixing;
using dposg::test::check_rule;
using dposg::test::HostDouble;
using dposg::test::HostFloatTwin;

TEMPLATE_TEST_CASE("osg on the host arrays: the loop of Algorithm 1, g_prev included", "[arrays][osg]", HostDouble,
                   HostFloatTwin) {
  check_rule<TestType>("osg");
}

TEMPLATE_TEST_CASE("oadam on the host arrays: the loop, m, v and the direction included", "[arrays][oadam]",
                   HostDouble, HostFloatTwin) {
  check_rule<TestType>("oadam");
}

TEMPLATE_TEST_CASE("extragradient on the host arrays: the loop, g included", "[arrays][extragradient]", HostDouble,
                   HostFloatTwin) {
  check_rule<TestType>("extragradient");
}

TEMPLATE_TEST_CASE("gda on the host arrays: the loop, g included", "[arrays][gda]", HostDouble, HostFloatTwin) {
  check_rule<TestType>("gda");
}

TEMPLATE_TEST_CASE("mixing on the host arrays: x_i = sum_j W_ij x_j per round", "[arrays][mixing]", HostDouble,
                   HostFloatTwin) {
  for (const char* topology : {"ring", "complete", "random-ring"}) {
    SECTION(topology) { check_mixing<TestType>(topology); }
  }
}
