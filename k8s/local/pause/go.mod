module digits.local/pause

go 1.26
