module hasuite.local/pause

go 1.22
