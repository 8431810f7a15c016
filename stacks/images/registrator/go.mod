module paasbox/registrator

go 1.19
