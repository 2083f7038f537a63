// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation).
// Every target that touches Asio links osprey::asio, so the configuration macros are identical
// in every TU.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
