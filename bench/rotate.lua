-- wrk script: rotate over the URL paths listed in a file, one per line.
--   wrk -t2 -c64 -d10s -H 'Accept-Encoding: gzip' -s bench/rotate.lua http://HOST:PORT/ -- URLS.txt
-- Requests are pre-formatted once per thread (with the -H headers), so the per-request
-- Lua cost is a table lookup and is the same whichever server is measured. Each thread
-- starts at a different offset so the threads do not move in lockstep.

local threads = 0
local reqs = {}
local i = 0

function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

function init(args)
  local file = args[1]
  if file == nil then
    error("rotate.lua: pass the URL list file after --")
  end
  for line in io.lines(file) do
    if line ~= "" then
      reqs[#reqs + 1] = wrk.format("GET", line)
    end
  end
  if #reqs == 0 then
    error("rotate.lua: no URLs in " .. file)
  end
  i = (tonumber(offset) or 0) * 7 % #reqs
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
