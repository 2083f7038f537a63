// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation).
// Every target that touches Asio links osprey::asio, so the configuration macros are identical
// in every TU. The SSL part (boost/asio/ssl) is compiled here too; OpenSSL is linked PUBLIC.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
