package control

import (
	"fmt"
	"net/http"
)

// The AWS wire form of SendSSHPublicKey (AWS JSON 1.1), so the AWS CLI and SDKs can push to
// the emulator: aws ec2-instance-connect send-ssh-public-key --endpoint-url http://127.0.0.1:8169
const (
	awsTarget      = "AWSEC2InstanceConnectService.SendSSHPublicKey"
	awsContentType = "application/x-amz-json-1.1"
)

type awsPush struct {
	InstanceID       string `json:"InstanceId"`
	InstanceOSUser   string `json:"InstanceOSUser"`
	SSHPublicKey     string `json:"SSHPublicKey"`
	AvailabilityZone string `json:"AvailabilityZone,omitempty"` // accepted and ignored
}

type awsPushAnswer struct {
	RequestID string `json:"RequestId"`
	Success   bool   `json:"Success"`
}

// sendSSHPublicKey answers POST / as the service does. The SigV4 signature is not checked:
// the emulator has no accounts, and #Caller is always emulator.DefaultCaller.
func (s *server) sendSSHPublicKey(w http.ResponseWriter, r *http.Request) {
	if t := r.Header.Get("X-Amz-Target"); t != awsTarget {
		awsFail(w, http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("X-Amz-Target %.100q is not %s", t, awsTarget))
		return
	}
	var req awsPush
	if err := decode(r, awsContentType, &req); err != nil {
		awsFail(w, err.status, "SerializationException", err.msg)
		return
	}
	res, err := s.doPush(PushRequest{InstanceID: req.InstanceID, OSUser: req.InstanceOSUser,
		PublicKey: req.SSHPublicKey})
	if err != nil {
		kind := "ServiceException"
		if err.status == http.StatusBadRequest {
			kind = "InvalidArgsException"
		}
		awsFail(w, err.status, kind, err.msg)
		return
	}
	writeJSONAs(w, awsContentType, http.StatusOK, awsPushAnswer{RequestID: res.RequestID, Success: true})
}

// awsFail answers an error the way AWS JSON 1.1 services do, which the AWS CLI prints as
// "An error occurred (TYPE) when calling the SendSSHPublicKey operation: MESSAGE".
func awsFail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("X-Amzn-ErrorType", kind)
	writeJSONAs(w, awsContentType, status, map[string]string{"__type": kind, "Message": msg})
}
