#include "codes.hpp"

#include <algorithm>
#include <iterator>

namespace trib::pinpoint {
namespace {

struct Code {
    int32_t code;
    std::string_view name;
};

// Sorted by code for binary search.
constexpr Code kServiceTypes[] = {
    {-1, "UNDEFINED"},
    {1, "UNKNOWN"},
    {100, "ASYNC"},
    {500, "SDK"},
    {1000, "STAND_ALONE"},
    {1010, "TOMCAT"},
    {1011, "TOMCAT_METHOD"},
    {1030, "JETTY"},
    {1110, "DUBBO_PROVIDER"},
    {1120, "UNDERTOW"},
    {1130, "GRPC_SERVER"},
    {1300, "C_CPP"},
    {1301, "C_CPP_METHOD"},
    {1400, "NODE"},
    {1401, "NODE_METHOD"},
    {1500, "PHP"},
    {1700, "PYTHON"},
    {1800, "GO"},
    {1801, "GO_FUNCTION"},
    {2100, "MYSQL"},
    {2101, "MYSQL_EXECUTE_QUERY"},
    {2150, "MARIADB"},
    {2200, "MSSQL"},
    {2300, "ORACLE"},
    {2500, "POSTGRESQL"},
    {2501, "POSTGRESQL_EXECUTE_QUERY"},
    {2600, "CASSANDRA"},
    {2650, "MONGO"},
    {5000, "INTERNAL_METHOD"},
    {5011, "JACKSON"},
    {5050, "SPRING"},
    {5051, "SPRING_MVC"},
    {5071, "SPRING_BEAN"},
    {5510, "MYBATIS"},
    {6060, "HIKARICP"},
    {6600, "EXPRESS"},
    {6610, "KOA"},
    {8200, "REDIS"},
    {8202, "IOREDIS"},
    {8660, "KAFKA_CLIENT"},
    {9050, "HTTP_CLIENT_3"},
    {9051, "HTTP_CLIENT_3_INTERNAL"},
    {9052, "HTTP_CLIENT_4"},
    {9053, "HTTP_CLIENT_4_INTERNAL"},
    {9055, "JDK_HTTPURLCONNECTOR"},
    {9056, "ASYNC_HTTP_CLIENT"},
    {9057, "ASYNC_HTTP_CLIENT_INTERNAL"},
    {9058, "OK_HTTP_CLIENT"},
    {9059, "OK_HTTP_CLIENT_INTERNAL"},
    {9110, "DUBBO_CONSUMER"},
    {9140, "REST_TEMPLATE"},
    {9160, "GRPC"},
    {9401, "GO_HTTP_CLIENT"},
    {9800, "C_CPP_REMOTE_METHOD"},
};

constexpr Code kAnnotations[] = {
    {-100, "Asynchronous Invocation"},
    {-51, "ExceptionClass"},
    {-50, "Exception"},
    {-40, "cached_args[N]"},
    {-39, "cached_args[9]"},
    {-38, "cached_args[8]"},
    {-37, "cached_args[7]"},
    {-36, "cached_args[6]"},
    {-35, "cached_args[5]"},
    {-34, "cached_args[4]"},
    {-33, "cached_args[3]"},
    {-32, "cached_args[2]"},
    {-31, "cached_args[1]"},
    {-30, "cached_args[0]"},
    {-11, "args[N]"},
    {-10, "args[9]"},
    {-9, "args[8]"},
    {-8, "args[7]"},
    {-7, "args[6]"},
    {-6, "args[5]"},
    {-5, "args[4]"},
    {-4, "args[3]"},
    {-3, "args[2]"},
    {-2, "args[1]"},
    {-1, "args[0]"},
    {12, "API"},
    {13, "API_METADATA"},
    {14, "RETURN_DATA"},
    {20, "SQL-ID"},
    {21, "SQL"},
    {22, "SQL-METADATA"},
    {23, "SQL-PARAM"},
    {24, "SQL-BindValue"},
    {30, "STRING_ID"},
    {40, "http.url"},
    {41, "http.param"},
    {42, "http.entity"},
    {45, "http.cookie"},
    {46, "http.status.code"},
    {48, "http.internal.display"},
    {49, "http.io"},
    {55, "http.resp.header"},
    {90, "dubbo.args"},
    {91, "dubbo.result"},
    {140, "kafka.topic"},
    {141, "kafka.partition"},
    {142, "kafka.offset"},
    {150, "mongo.json.data"},
    {151, "mongo.collection.info"},
    {152, "mongo.collection.option"},
    {153, "mongo.json"},
    {154, "mongo.json.bindvalue"},
    {160, "grpc.status"},
    {310, "REDIS.IO"},
    {10015, "API-TAG"},
};

template <size_t N>
std::string_view lookup(const Code (&table)[N], int32_t code) {
    auto it =
        std::lower_bound(std::begin(table), std::end(table), code, [](const Code &c, int32_t v) { return c.code < v; });
    if (it != std::end(table) && it->code == code) return it->name;
    return {};
}

} // namespace

std::string_view service_type_name(int32_t code) {
    std::string_view n = lookup(kServiceTypes, code);
    return n.empty() ? std::string_view("Unknown") : n;
}

std::string_view annotation_name(int32_t key) { return lookup(kAnnotations, key); }

} // namespace trib::pinpoint
