-- wrk through a forward proxy: connect to the proxy, send absolute-form requests.
local target = os.getenv("TARGET")
wrk.path = target
wrk.headers["Host"] = target:match("^http://([^/]+)")
