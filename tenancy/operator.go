package tenancy

import "github.com/gin-gonic/gin"

// OperatorOnly is the admin API's gate, for admin endpoints served by other
// packages (the query service's DLQ API): after Middleware(auth,
// ScopeAdmin), it refuses keys of any tenant but OperatorTenant with 403.
func OperatorOnly(c *gin.Context) { operatorOnly(c) }
